-- +goose Up
CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active';
-- +goose StatementBegin
CREATE TRIGGER orders_touch AFTER INSERT ON orders
BEGIN
    UPDATE users SET name = name WHERE id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER orders_touch;
DROP VIEW active_users;

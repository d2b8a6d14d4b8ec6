-- +goose Up
CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active';
CREATE TRIGGER orders_total BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = ROUND(NEW.total, 2);

-- +goose Down
DROP TRIGGER orders_total;
DROP VIEW active_users;

-- +goose Up
CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active';
-- +goose StatementBegin
CREATE FUNCTION orders_touch() RETURNS trigger AS $$
BEGIN
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_touch();

-- +goose Down
DROP TRIGGER orders_touch ON orders;
DROP FUNCTION orders_touch();
DROP VIEW active_users;

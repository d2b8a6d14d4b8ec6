-- The previous release still selects users.name: a contract change.
-- +goose Up
ALTER TABLE users RENAME COLUMN name TO full_name;

-- +goose Down
ALTER TABLE users RENAME COLUMN full_name TO name;

-- +goose Up
ALTER TABLE users DROP COLUMN name;

-- +goose Down
ALTER TABLE users ADD COLUMN name TEXT;

-- +goose Up
ALTER TABLE users ADD COLUMN country TEXT NOT NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN country;

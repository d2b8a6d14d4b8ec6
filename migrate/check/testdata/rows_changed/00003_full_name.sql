-- +goose Up
ALTER TABLE users ADD COLUMN full_name TEXT;
UPDATE users SET full_name = name;

-- +goose Down
UPDATE users SET name = 'unknown';
ALTER TABLE users DROP COLUMN full_name;

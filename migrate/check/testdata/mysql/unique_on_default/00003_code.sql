-- +goose Up
ALTER TABLE users ADD COLUMN code VARCHAR(16) NOT NULL DEFAULT 'none';
CREATE UNIQUE INDEX users_by_code ON users (code);

-- +goose Down
DROP INDEX users_by_code ON users;
ALTER TABLE users DROP COLUMN code;

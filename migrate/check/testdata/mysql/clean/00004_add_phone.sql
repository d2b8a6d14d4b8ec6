-- +goose Up
ALTER TABLE users ADD COLUMN phone VARCHAR(32);

-- +goose Down
ALTER TABLE users DROP COLUMN phone;

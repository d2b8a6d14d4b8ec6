-- +goose Up
ALTER TABLE users ADD COLUMN phone TEXT;

-- +goose Down
-- nothing to do

-- +goose Up
ALTER TABLE categories ADD COLUMN slug TEXT;

-- +goose Down
ALTER TABLE categories DROP COLUMN slug;

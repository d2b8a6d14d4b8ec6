-- +goose Up
ALTER TABLE samples ADD COLUMN note TEXT;

-- +goose Down
ALTER TABLE samples DROP COLUMN note;

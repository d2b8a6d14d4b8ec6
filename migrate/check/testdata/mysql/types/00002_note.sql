-- +goose Up
ALTER TABLE samples ADD COLUMN note VARCHAR(100);

-- +goose Down
ALTER TABLE samples DROP COLUMN note;

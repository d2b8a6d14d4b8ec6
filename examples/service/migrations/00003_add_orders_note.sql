-- An expand-only change: a nullable column that the previous release ignores.
-- +goose Up
ALTER TABLE orders ADD COLUMN note VARCHAR(500);

-- +goose Down
ALTER TABLE orders DROP COLUMN note;

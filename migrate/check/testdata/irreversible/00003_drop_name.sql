-- rollsafe:irreversible reason="user names are erased for privacy; they cannot come back"
-- +goose Up
ALTER TABLE users DROP COLUMN name;

-- +goose Down

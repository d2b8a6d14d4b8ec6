-- An acknowledgement without a reason acknowledges nothing.
-- rollsafe:contract
-- +goose Up
ALTER TABLE users RENAME COLUMN name TO full_name;

-- +goose Down
ALTER TABLE users RENAME COLUMN full_name TO name;

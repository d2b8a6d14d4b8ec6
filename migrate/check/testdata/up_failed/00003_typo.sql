-- +goose Up
ALTER TABLE userz ADD COLUMN phone TEXT;

-- +goose Down
ALTER TABLE userz DROP COLUMN phone;

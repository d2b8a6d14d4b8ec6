-- +goose Up
UPDATE users SET name = name;

-- +goose Down
DELETE FROM orders;

-- +goose Up
CREATE INDEX orders_by_placed ON orders (placed_on);

-- +goose Down
SELECT 1;

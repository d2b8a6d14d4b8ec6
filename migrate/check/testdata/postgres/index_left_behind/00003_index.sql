-- +goose Up
CREATE INDEX IF NOT EXISTS orders_by_day ON orders (placed_on);

-- +goose Down
SELECT 1;

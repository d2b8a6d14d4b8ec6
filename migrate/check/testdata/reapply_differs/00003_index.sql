-- +goose Up
CREATE INDEX IF NOT EXISTS orders_by_day ON orders (placed_on);

-- +goose Down
DROP INDEX orders_by_day;
CREATE INDEX orders_by_day ON orders (placed_on DESC);

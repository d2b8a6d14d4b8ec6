-- +goose Up
CREATE INDEX orders_by_total ON orders (total);

-- +goose Down
SELECT 1;

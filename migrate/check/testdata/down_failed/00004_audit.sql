-- +goose Up
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER REFERENCES orders (id) ON DELETE CASCADE,
    note TEXT NOT NULL,
    UNIQUE (order_id, note)
);

-- +goose Down
DROP TABLE audit;

-- +goose Up
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    total NUMERIC(10, 2) NOT NULL CHECK (total >= 0),
    placed_on DATE NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id);

-- +goose Down
DROP INDEX orders_by_user;
DROP TABLE orders;

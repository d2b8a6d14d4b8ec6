-- +goose Up
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX customers_by_email ON customers (email);

-- +goose Down
-- Dropping the table drops its indexes, on every dialect.
DROP TABLE customers;

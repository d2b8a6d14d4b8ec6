-- Expand only: every change here leaves the previous release working.
-- +goose Up
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    total numeric(10,2) NOT NULL DEFAULT 0,
    placed_at timestamp
);
ALTER TABLE customers ADD COLUMN nickname varchar(40);
ALTER TABLE customers ADD COLUMN tier integer NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN status text DEFAULT 'active' CHECK (status IN ('active', 'closed'));
CREATE INDEX customers_by_name ON customers (name);
CREATE UNIQUE INDEX customers_by_nickname ON customers (nickname);
CREATE VIEW customer_names AS SELECT id, name FROM customers;

-- +goose Down
DROP VIEW customer_names;
DROP INDEX customers_by_nickname;
DROP INDEX customers_by_name;
ALTER TABLE customers DROP COLUMN status;
ALTER TABLE customers DROP COLUMN tier;
ALTER TABLE customers DROP COLUMN nickname;
DROP TABLE orders;

-- Expand only: every change here leaves the previous release working.
-- +goose Up
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    total numeric(10,2) NOT NULL DEFAULT 0,
    placed_at timestamptz
);
ALTER TABLE customers ADD COLUMN nickname varchar(40);
ALTER TABLE customers ADD COLUMN tier integer NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN status text DEFAULT 'active' CHECK (status IN ('active', 'closed'));
ALTER TABLE customers ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX orders_by_customer ON orders (customer_id);
CREATE VIEW customer_names AS SELECT id, name FROM customers;

-- +goose Down
DROP VIEW customer_names;
ALTER TABLE customers DROP COLUMN created_at;
ALTER TABLE customers DROP COLUMN status;
ALTER TABLE customers DROP COLUMN tier;
ALTER TABLE customers DROP COLUMN nickname;
DROP TABLE orders;

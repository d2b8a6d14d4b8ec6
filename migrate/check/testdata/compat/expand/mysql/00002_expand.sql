-- Expand only: every change here leaves the previous release working and
-- runs INSTANT or INPLACE.
-- +goose Up
SET SESSION lock_wait_timeout = 10;
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL,
    total numeric(10,2) NOT NULL DEFAULT 0,
    placed_at datetime,
    CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
);
ALTER TABLE customers ADD COLUMN nickname varchar(40);
ALTER TABLE customers ADD COLUMN tier integer NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP;
CREATE INDEX customers_by_name ON customers (name);
CREATE UNIQUE INDEX customers_by_nickname ON customers (nickname);
CREATE VIEW customer_names AS SELECT id, name FROM customers;

-- +goose Down
DROP VIEW customer_names;
DROP INDEX customers_by_nickname ON customers;
DROP INDEX customers_by_name ON customers;
ALTER TABLE customers DROP COLUMN created_at;
ALTER TABLE customers DROP COLUMN tier;
ALTER TABLE customers DROP COLUMN nickname;
DROP TABLE orders;

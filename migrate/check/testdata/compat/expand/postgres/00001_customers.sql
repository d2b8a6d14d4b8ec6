-- +goose Up
CREATE TABLE customers (id integer PRIMARY KEY, email varchar(200) NOT NULL, name varchar(100));
CREATE VIEW customer_emails AS SELECT id, email FROM customers;

-- +goose Down
DROP VIEW customer_emails;
DROP TABLE customers;

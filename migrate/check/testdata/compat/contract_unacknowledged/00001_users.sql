-- +goose Up
CREATE TABLE users (id integer PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100));

-- +goose Down
DROP TABLE users;

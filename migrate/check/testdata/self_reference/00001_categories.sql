-- +goose Up
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES categories (id),
    name TEXT NOT NULL UNIQUE
);

-- +goose Down
DROP TABLE categories;

-- +goose Up
CREATE TABLE slots (
    id INTEGER PRIMARY KEY,
    hour INTEGER NOT NULL CHECK (hour > 30 AND hour < 20)
);

-- +goose Down
DROP TABLE slots;

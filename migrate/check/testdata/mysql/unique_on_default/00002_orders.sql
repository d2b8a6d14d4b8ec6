-- +goose Up
CREATE TABLE orders (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    total DECIMAL(10, 2) NOT NULL CHECK (total >= 0),
    placed_on DATE NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX orders_by_day ON orders (placed_on);

-- +goose Down
DROP TABLE orders;

-- +goose Up
CREATE TABLE users (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    name TEXT,
    status ENUM('active', 'blocked') NOT NULL DEFAULT 'active',
    score INT NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 100),
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +goose Down
DROP TABLE users;

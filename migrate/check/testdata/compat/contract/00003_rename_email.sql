-- rollsafe:contract reason="users.email is read through the accounts service only since release 7"
-- +goose Up
ALTER TABLE users RENAME COLUMN email TO login;

-- +goose Down
ALTER TABLE users RENAME COLUMN login TO email;

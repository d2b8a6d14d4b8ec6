-- rollsafe:irreversible reason="deletes unverified sign-ups; a down cannot bring them back"

-- +goose Up
DELETE FROM users WHERE email NOT LIKE '%@%';

-- +goose Down

-- +goose Up
CREATE PROCEDURE purge_users() LANGUAGE SQL AS $$ DELETE FROM users $$;

-- +goose Down
DROP PROCEDURE purge_users;

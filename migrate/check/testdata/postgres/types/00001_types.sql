-- +goose Up
CREATE TYPE point_kind AS ENUM ('start', 'stop');
CREATE TABLE samples (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind point_kind NOT NULL,
    tags TEXT[] NOT NULL,
    counts INTEGER[] NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    day DATE NOT NULL,
    amount NUMERIC(6, 2) NOT NULL,
    ratio DOUBLE PRECISION NOT NULL,
    ok BOOLEAN NOT NULL,
    ref UUID NOT NULL UNIQUE,
    doc JSONB NOT NULL,
    raw BYTEA NOT NULL,
    addr INET NOT NULL,
    code CHAR(4) NOT NULL UNIQUE,
    small SMALLINT NOT NULL CHECK (small BETWEEN 1 AND 5)
);

-- +goose Down
DROP TABLE samples;
DROP TYPE point_kind;

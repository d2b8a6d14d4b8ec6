package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
)

func TestStatementHandler(t *testing.T) {
	var buf bytes.Buffer
	user := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	goose := slog.New(&statementHandler{next: user.Handler()}).With("logger", "goose")

	ctx, log := withStatementLog(context.Background())
	goose.InfoContext(ctx, gooseStatementMsg, slog.String("statement", "CREATE TABLE a (id int);"), slog.Int64("version", 2))
	goose.InfoContext(ctx, gooseStatementMsg, slog.String("statement", "CREATE TABLE b (id int);"), slog.Int64("version", 3))
	goose.InfoContext(context.Background(), gooseStatementMsg, slog.String("statement", "not recorded"), slog.Int64("version", 2))
	goose.InfoContext(ctx, "migration completed", slog.Int64("version", 2))

	assert.Equal(t, []string{"CREATE TABLE a (id int);"}, log.of(2))
	assert.Equal(t, []string{"CREATE TABLE b (id int);"}, log.of(3))
	assert.Empty(t, log.of(4))
	// Statements go to the user's logger at debug level, hidden here;
	// everything else keeps its level and attributes.
	assert.NotContains(t, buf.String(), "executing statement")
	assert.Contains(t, buf.String(), `level=INFO msg="migration completed" logger=goose version=2`)
}

func TestPartialErrorText(t *testing.T) {
	cause := errors.New("boom")
	failed := Result{Migration: Migration{Version: 4, Source: "dir/00004_x.sql"}, Direction: "up"}
	long := "INSERT INTO t VALUES (" + strings.Repeat("1, ", 40) + "1);"
	tests := []struct {
		name string
		err  *PartialError
		want string
	}{
		{"rolled back", &PartialError{Dialect: dialect.Postgres, Direction: "up", Failed: &failed, Transactional: true, Err: cause,
			Started: []string{"CREATE TABLE t (id int);", "INSERT INTO nope VALUES (1);"}},
			"migrate: up 00004_x.sql failed: boom (in statement 2: INSERT INTO nope VALUES (1)); its transaction was rolled back; none applied before it"},
		{"go migration", &PartialError{Dialect: dialect.SQLite, Direction: "down", Failed: &Result{Migration: Migration{Version: 9}}, Transactional: true, Err: cause,
			Applied: []Result{{Migration: Migration{Version: 10, Source: "00010_y.sql"}}}},
			"migrate: down version 9 failed: boom; its transaction was rolled back; applied before it: 00010_y.sql"},
		{"no transaction, first statement", &PartialError{Dialect: dialect.SQLite, Direction: "up", Failed: &failed, Err: cause,
			Started: []string{"CREATE INDEX i ON t (id);"}},
			"migrate: up 00004_x.sql failed: boom (in statement 1: CREATE INDEX i ON t (id)); it ran without a transaction and no statement completed before the failure; none applied before it"},
		{"mysql ddl", &PartialError{Dialect: dialect.MySQL, Direction: "up", Failed: &failed, Transactional: true, Err: cause,
			Started: []string{long, "ALTER TABLE t\n   ADD x int;"}},
			"migrate: up 00004_x.sql failed: boom (in statement 2: ALTER TABLE t ADD x int); MySQL commits DDL, and what ran before it, by itself, so 1 statement stays applied: [1] INSERT INTO t VALUES (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1...; none applied before it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			assert.ErrorIs(t, tt.err, cause)
		})
	}
}

func TestLockKeyPerDatabase(t *testing.T) {
	seen := map[uint64]string{}
	for _, parts := range [][]string{{"postgres", "app", "public"}, {"postgres", "app", "billing"}, {"postgres", "other", "public"}, {"postgres", "apppublic", ""}} {
		k := lockKey(parts...)
		name := fmt.Sprint(parts)
		assert.NotContains(t, seen, k, "%s collides with %s", name, seen[k])
		seen[k] = name
		assert.Equal(t, k, lockKey(parts...), "the key is stable")
	}
}

type codedErr int

func (c codedErr) Error() string { return fmt.Sprintf("sqlite error %d", int(c)) }
func (c codedErr) Code() int     { return int(c) }

func TestSQLiteBusy(t *testing.T) {
	assert.True(t, sqliteBusy(codedErr(5)))
	assert.True(t, sqliteBusy(fmt.Errorf("wrapped: %w", codedErr(5|(2<<8))))) // SQLITE_BUSY_SNAPSHOT
	assert.True(t, sqliteBusy(codedErr(6)))
	assert.True(t, sqliteBusy(errors.New("database is locked")))
	assert.False(t, sqliteBusy(codedErr(1)))
	assert.False(t, sqliteBusy(errors.New("no such table: x")))
}

func TestRecordStatementsKeepsTheFirstAndTheLast(t *testing.T) {
	var in []string
	for i := range 10000 {
		in = append(in, fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
	}
	out := recordStatements(in)
	require.Len(t, out, 21)
	assert.Equal(t, "INSERT INTO t VALUES (0)", out[0])
	assert.Equal(t, "INSERT INTO t VALUES (9)", out[9])
	assert.Equal(t, "-- (9980 statements not kept)", out[10])
	assert.Equal(t, "INSERT INTO t VALUES (9990)", out[11])
	assert.Equal(t, "INSERT INTO t VALUES (9999)", out[20], "the last, the one in flight, is kept")
	assert.Equal(t, in[:20], recordStatements(in[:20]), "twenty are kept whole")
}

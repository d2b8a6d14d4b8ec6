package check_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// severityOf is the severity every reversibility code must carry.
var severityOf = map[check.Code]check.Severity{
	check.CodeDownMissing:       check.SeverityError,
	check.CodeUpFailed:          check.SeverityError,
	check.CodeUpFailsWithData:   check.SeverityError,
	check.CodeDownFailed:        check.SeverityError,
	check.CodeSchemaNotRestored: check.SeverityError,
	check.CodeColumnOrder:       check.SeverityWarning,
	check.CodeRowsLost:          check.SeverityError,
	check.CodeRowsChanged:       check.SeverityError,
	check.CodeReapplyFailed:     check.SeverityError,
	check.CodeReapplyDiffers:    check.SeverityError,
	check.CodeIrreversible:      check.SeverityInfo,
	check.CodeRowsNotGenerated:  check.SeverityInfo,
	check.CodeNotChecked:        check.SeverityWarning,
	check.CodeAnnotationInvalid: check.SeverityError,
}

// fixture is a directory under testdata and what the check must find there:
// the codes per version (versions not listed must have none).
type fixture struct {
	dir          string
	ok           bool
	codes        map[int64][]check.Code
	irreversible []int64 // versions reported with reversible false
	messageHas   string  // a fragment one of the messages must hold
}

var fixtures = []fixture{
	{dir: "clean", ok: true},
	{dir: "self_reference", ok: true},
	{dir: "down_missing", codes: map[int64][]check.Code{3: {check.CodeDownMissing}}, irreversible: []int64{3},
		messageHas: "00003_add_phone.sql: has an empty down section"},
	{dir: "up_failed", codes: map[int64][]check.Code{3: {check.CodeUpFailed}, 4: {check.CodeNotChecked}}, irreversible: []int64{3, 4},
		messageHas: "no such table: userz"},
	{dir: "up_fails_with_data", codes: map[int64][]check.Code{3: {check.CodeUpFailsWithData}}, irreversible: []int64{3},
		messageHas: "UNIQUE constraint failed: users.code"},
	{dir: "down_failed", codes: map[int64][]check.Code{3: {check.CodeDownFailed}}, irreversible: []int64{3},
		messageHas: "no such table: user_phones"},
	{dir: "schema_not_restored", codes: map[int64][]check.Code{3: {check.CodeSchemaNotRestored}}, irreversible: []int64{3},
		messageHas: "index orders.orders_by_placed: left behind by down"},
	{dir: "column_order", codes: map[int64][]check.Code{3: {check.CodeColumnOrder, check.CodeRowsChanged}}, irreversible: []int64{3},
		messageHas: "was (id, email, name, status, created_at), now (id, email, status, created_at, name)"},
	{dir: "rows_lost", codes: map[int64][]check.Code{3: {check.CodeRowsLost}}, irreversible: []int64{3},
		messageHas: "down lost 3 of 3 rows of table orders"},
	{dir: "rows_changed", codes: map[int64][]check.Code{3: {check.CodeRowsChanged}}, irreversible: []int64{3},
		messageHas: "down changed 3 of 3 rows of table users"},
	{dir: "reapply_failed", codes: map[int64][]check.Code{3: {check.CodeSchemaNotRestored, check.CodeReapplyFailed}}, irreversible: []int64{3},
		messageHas: "up failed when run again after the down"},
	{dir: "reapply_differs", codes: map[int64][]check.Code{3: {check.CodeSchemaNotRestored, check.CodeReapplyDiffers}}, irreversible: []int64{3},
		messageHas: "was `orders_by_day (placed_on)`, now `orders_by_day (placed_on desc)`"},
	{dir: "irreversible", ok: true, codes: map[int64][]check.Code{3: {check.CodeIrreversible}}, irreversible: []int64{3},
		messageHas: "marked irreversible (user names are erased for privacy"},
	{dir: "rows_not_generated", ok: true, codes: map[int64][]check.Code{3: {check.CodeRowsNotGenerated}},
		messageHas: "rows cannot be generated for table slots"},
	{dir: "annotation_invalid", codes: map[int64][]check.Code{3: {check.CodeAnnotationInvalid}},
		messageHas: `unknown annotation "rollsafe:irreversable"`},
}

func TestFixturesSQLite(t *testing.T) {
	t.Parallel()
	for _, fx := range fixtures {
		t.Run(fx.dir, func(t *testing.T) {
			t.Parallel()
			rep, err := check.Run(context.Background(), os.DirFS(filepath.Join("testdata", fx.dir)), check.WithCompat(false))
			require.NoError(t, err)
			assertFixture(t, fx, rep)
		})
	}
}

func assertFixture(t *testing.T, fx fixture, rep *check.Report) {
	t.Helper()
	assert.Equal(t, fx.ok, rep.OK, "report OK")
	entries, err := os.ReadDir(filepath.Join("testdata", fx.dir))
	require.NoError(t, err)
	require.Len(t, rep.Migrations, len(entries), "one report per migration file")
	var messages []string
	for i, m := range rep.Migrations {
		assert.Equal(t, entries[i].Name(), m.Source)
		var codes []check.Code
		for _, f := range m.Findings {
			codes = append(codes, f.Code)
			messages = append(messages, f.Message)
			assert.Equal(t, severityOf[f.Code], f.Severity, "severity of %s", f.Code)
			assert.True(t, strings.HasPrefix(f.Message, m.Source+": "), "message %q names the file", f.Message)
			assert.Equal(t, m.Version, f.Version)
		}
		assert.Equal(t, fx.codes[m.Version], codes, "codes of %s", m.Source)
		assert.Equal(t, !slices.Contains(fx.irreversible, m.Version), m.Reversible, "reversible of %s", m.Source)
	}
	if fx.messageHas != "" {
		assert.Contains(t, strings.Join(messages, "\n"), fx.messageHas)
	}
}

func TestWithoutDataComparesSchemasOnly(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"rows_lost", "up_fails_with_data"} {
		rep, err := check.Run(context.Background(), os.DirFS(filepath.Join("testdata", dir)), check.WithoutData(), check.WithCompat(false))
		require.NoError(t, err)
		assert.True(t, rep.OK, "%s without data: %v", dir, rep.All())
	}
	rep, err := check.Run(context.Background(), os.DirFS("testdata/schema_not_restored"), check.WithoutData(), check.WithCompat(false))
	require.NoError(t, err)
	assert.False(t, rep.OK)
	assert.Equal(t, check.CodeSchemaNotRestored, rep.Migrations[2].Findings[0].Code)
}

func TestGoMigrations(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"00001_users.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n-- +goose Down\nDROP TABLE users;\n")},
		"00002_tags.go":     {Data: []byte("package migrations\n")},
		"00003_backfill.go": {Data: []byte("package migrations\n")},
	}
	tags := goose.NewGoMigration(2,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE tags (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), tag TEXT)")
			return err
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DROP TABLE tags")
			return err
		}})
	backfill := goose.NewGoMigration(3,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE users SET name = upper(name)")
			return err
		}}, nil)
	// A Go migration outside a transaction gets the *sql.DB while goose
	// holds a connection.
	noTx := goose.NewGoMigration(4,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "CREATE INDEX tags_by_tag ON tags (tag)")
			return err
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "DROP INDEX tags_by_tag")
			return err
		}})
	fsys["00004_tag_index.go"] = &fstest.MapFile{Data: []byte("package migrations\n")}
	rep, err := check.Run(context.Background(), fsys, check.WithGoMigrations(tags, backfill, noTx), check.WithCompat(false))
	require.NoError(t, err)
	require.Len(t, rep.Migrations, 4)
	assert.True(t, rep.Migrations[3].Reversible, "%v", rep.Migrations[3].Findings)
	assert.True(t, rep.Migrations[1].Reversible, "%v", rep.Migrations[1].Findings)
	assert.Equal(t, "00002_tags.go", rep.Migrations[1].Source)
	require.Len(t, rep.Migrations[2].Findings, 1)
	assert.Equal(t, check.CodeDownMissing, rep.Migrations[2].Findings[0].Code)
	assert.Contains(t, rep.Migrations[2].Findings[0].Message, "has no down function")

	// Without the registration, goose refuses the directory.
	_, err = check.Run(context.Background(), fsys, check.WithCompat(false))
	assert.Error(t, err)
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := check.Run(ctx, fstest.MapFS{"README.md": {Data: []byte("x")}})
	assert.ErrorIs(t, err, check.ErrNoMigrations)

	_, err = check.Run(ctx, os.DirFS("testdata/clean"), check.WithDatabase(dialect.Dialect(9), "x"))
	assert.ErrorIs(t, err, check.ErrOption)
	_, err = check.Run(ctx, os.DirFS("testdata/clean"), check.WithDatabase(0, "x"))
	assert.ErrorIs(t, err, check.ErrOption)
	_, err = check.Run(ctx, os.DirFS("testdata/clean"), check.WithSince(-1))
	assert.ErrorIs(t, err, check.ErrOption)
	_, err = check.Run(ctx, nil)
	assert.ErrorIs(t, err, check.ErrOption)

	// No server listens on port 1; the password never shows.
	_, err = check.Run(ctx, os.DirFS("testdata/clean"),
		check.WithDatabase(dialect.Postgres, "postgres://app:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"))
	require.ErrorIs(t, err, check.ErrUnreachable)
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := check.Run(ctx, os.DirFS("testdata/clean"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled) || errors.Is(err, check.ErrUnreachable), "%v", err)
}

// With a file path as SQLite DSN, the check creates that file, refuses one
// that exists, and removes it at the end.
func TestSQLiteScratchFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "scratch.db")
	rep, err := check.Run(context.Background(), os.DirFS("testdata/up_fails_with_data"),
		check.WithDatabase(dialect.SQLite, path), check.WithCompat(false))
	require.NoError(t, err)
	assert.Equal(t, check.CodeUpFailsWithData, rep.Migrations[2].Findings[0].Code)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "the scratch file is removed")

	require.NoError(t, os.WriteFile(path, []byte("user data"), 0o600))
	_, err = check.Run(context.Background(), os.DirFS("testdata/clean"), check.WithDatabase(dialect.SQLite, path))
	assert.ErrorIs(t, err, check.ErrUnreachable)
	data, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, "user data", string(data), "an existing file is never touched")
}

// Compatibility findings (a dropped column is a contract change) do not
// make a migration irreversible.
func TestCompatFindingsKeepReversible(t *testing.T) {
	t.Parallel()
	rep, err := check.Run(context.Background(), os.DirFS("testdata/column_order"), check.WithoutData())
	require.NoError(t, err)
	m := rep.Migrations[2]
	var errs int
	for _, f := range m.Findings {
		if f.Severity == check.SeverityError {
			errs++
		}
	}
	require.Positive(t, errs, "the compatibility analysis reports the dropped column: %v", m.Findings)
	assert.False(t, rep.OK)
	assert.True(t, m.Reversible, "%v", m.Findings)
}

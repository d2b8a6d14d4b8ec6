package check_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// runOn runs the check of dir on a scratch database of dialect d.
func runOn(t *testing.T, d dialect.Dialect, dir string, opts ...check.Option) *check.Report {
	t.Helper()
	if d != dialect.SQLite {
		opts = append(opts, check.WithDatabase(d, testdb.New(t, d).DSN))
	}
	rep, err := check.Run(context.Background(), os.DirFS(dir), opts...)
	require.NoError(t, err)
	return rep
}

// The expand-only sets (new tables, nullable columns, constant defaults,
// indexes built the online way, new views, a view widened at its end) give
// no finding at all: a false positive is a bug.
func TestCompatExpandOnlyIsClean(t *testing.T) {
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			rep := runOn(t, d, filepath.Join("testdata/compat/expand", d.String()), check.WithTimeoutCheck())
			assert.True(t, rep.OK)
			assert.Empty(t, rep.All(), "findings")
			assert.NotEmpty(t, rep.Migrations)
			for _, m := range rep.Migrations {
				assert.True(t, m.Reversible, m.Source)
			}
		})
	}
}

func TestCompatContractFixture(t *testing.T) {
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			type got struct {
				code check.Code
				sev  check.Severity
			}
			collect := func(rep *check.Report) map[int64][]got {
				out := map[int64][]got{}
				for _, f := range rep.All() {
					out[f.Version] = append(out[f.Version], got{f.Code, f.Severity})
				}
				return out
			}
			dir := "testdata/compat/contract"

			rep := runOn(t, d, dir)
			assert.False(t, rep.OK, "an unacknowledged contract change fails the check")
			assert.Equal(t, map[int64][]got{
				2: {{check.CodeColumnRenamed, check.SeverityError}},
				3: {{check.CodeColumnRenamed, check.SeverityInfo}},
			}, collect(rep))
			assert.Contains(t, rep.Migrations[2].Findings[0].Message, "release 7")

			rep = runOn(t, d, dir, check.WithSince(2))
			assert.True(t, rep.OK, "contract changes of shipped migrations are info")
			assert.Equal(t, map[int64][]got{
				2: {{check.CodeColumnRenamed, check.SeverityInfo}},
				3: {{check.CodeColumnRenamed, check.SeverityInfo}},
			}, collect(rep))

			rep = runOn(t, d, dir, check.WithCompat(false))
			assert.True(t, rep.OK)
			assert.Empty(t, rep.All())
		})
	}
}

// The example service's migrations are expand-only: they pass clean. They
// are written for SQLite and PostgreSQL (MySQL spells DROP INDEX … ON).
func TestCompatExampleServiceMigrations(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.SQLite, dialect.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			rep := runOn(t, d, "../../examples/service/migrations")
			assert.True(t, rep.OK)
			assert.Empty(t, rep.All(), "findings")
		})
	}
}

// A contract annotation without a reason, or a misspelt one, is an error
// and acknowledges nothing.
func TestCompatBadAcknowledgement(t *testing.T) {
	rep := runOn(t, dialect.SQLite, "testdata/compat/contract_unacknowledged")
	assert.False(t, rep.OK)
	want := map[string][]check.Code{
		"00002_rename_name.sql":  {check.CodeAnnotationInvalid, check.CodeColumnRenamed},
		"00003_rename_email.sql": {check.CodeAnnotationInvalid, check.CodeColumnRenamed},
	}
	for _, m := range rep.Migrations[1:] {
		var codes []check.Code
		for _, f := range m.Findings {
			codes = append(codes, f.Code)
			assert.Equal(t, check.SeverityError, f.Severity, f.Message)
		}
		assert.ElementsMatch(t, want[m.Source], codes, m.Source)
	}
	assert.Contains(t, rep.Migrations[1].Findings[0].Message, `rollsafe:contract needs reason="why"`)
	assert.Contains(t, rep.Migrations[2].Findings[0].Message, `unknown annotation "rollsafe:contracts"`)
}

// sinceFixture is two releases: 1 is shipped; 2 to 5 are the upcoming
// release, which adds users.nickname and table drafts and later puts a
// UNIQUE on the one and drops the other. With --since 1 the analysis knows
// the previous release never used either, so only the rename of a column
// it does use (4) stays an error.
func sinceFixture(d dialect.Dialect) fstest.MapFS {
	const (
		view   = "DROP VIEW user_names;\nCREATE VIEW user_names AS SELECT id, name FROM users;\n"
		viewNn = "DROP VIEW user_names;\nCREATE VIEW user_names AS SELECT id, name, nickname FROM users;\n"
	)
	unique := map[dialect.Dialect]string{
		dialect.SQLite:   "-- +goose Up\nCREATE UNIQUE INDEX users_by_nickname ON users (nickname);\n-- +goose Down\nDROP INDEX users_by_nickname;\n",
		dialect.Postgres: "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE UNIQUE INDEX CONCURRENTLY users_by_nickname ON users (nickname);\n-- +goose Down\nDROP INDEX CONCURRENTLY users_by_nickname;\n",
		dialect.MySQL:    "-- +goose Up\nCREATE UNIQUE INDEX users_by_nickname ON users (nickname);\n-- +goose Down\nDROP INDEX users_by_nickname ON users;\n",
	}[d]
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"00001_users.sql": file("-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100));\n" +
			"CREATE VIEW user_names AS SELECT id, name FROM users;\n-- +goose Down\nDROP VIEW user_names;\nDROP TABLE users;\n"),
		"00002_nickname.sql": file("-- +goose Up\nALTER TABLE users ADD COLUMN nickname varchar(40);\nCREATE TABLE drafts (id integer PRIMARY KEY, title varchar(100));\n" + viewNn +
			"-- +goose Down\n" + view + "DROP TABLE drafts;\nALTER TABLE users DROP COLUMN nickname;\n"),
		"00003_unique_nickname.sql": file(unique),
		"00004_rename_email.sql": file("-- +goose Up\nALTER TABLE users RENAME COLUMN email TO login;\n" + view +
			"-- +goose Down\n" + viewNn + "ALTER TABLE users RENAME COLUMN login TO email;\n"),
		"00005_drop_drafts.sql": file("-- rollsafe:irreversible reason=\"drafts never shipped\"\n-- +goose Up\nDROP TABLE drafts;\n-- +goose Down\n"),
	}
}

// --since: contract findings of shipped migrations are info, and those of
// the upcoming release are judged against the schema the shipped release
// runs on.
func TestCompatSinceKnowsThePreviousRelease(t *testing.T) {
	tests := []struct {
		since int64
		want  []string
	}{
		{0, []string{
			"3 unique_added error",
			"4 column_renamed error", "4 view_changed error",
			"5 irreversible info", "5 table_dropped error",
		}},
		{1, []string{
			"4 column_renamed error",
			"5 irreversible info",
		}},
		// Release 1..3 shipped: nickname and drafts are old now.
		{3, []string{
			"3 unique_added info",
			"4 column_renamed error", "4 view_changed error",
			"5 irreversible info", "5 table_dropped error",
		}},
		{5, []string{
			"3 unique_added info",
			"4 column_renamed info", "4 view_changed info",
			"5 irreversible info", "5 table_dropped info",
		}},
	}
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			var dsn string
			if d != dialect.SQLite {
				dsn = testdb.New(t, d).DSN
			}
			for _, tt := range tests {
				opts := []check.Option{check.WithSince(tt.since)}
				if dsn != "" {
					opts = append(opts, check.WithDatabase(d, dsn))
				}
				rep, err := check.Run(context.Background(), sinceFixture(d), opts...)
				require.NoError(t, err)
				got := []string{}
				for _, f := range rep.All() {
					got = append(got, fmt.Sprintf("%d %s %s", f.Version, f.Code, f.Severity))
				}
				assert.ElementsMatch(t, tt.want, got, "--since %d: %v", tt.since, rep.All())
			}
		})
	}
}

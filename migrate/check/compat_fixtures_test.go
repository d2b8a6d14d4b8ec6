package check_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// runOn runs the check of dir on a scratch database of dialect d.
func runOn(t *testing.T, d testdb.Dialect, dir string, opts ...check.Option) *check.Report {
	t.Helper()
	if d != testdb.SQLite {
		opts = append(opts, check.WithDatabase(string(d), testdb.New(t, d).DSN))
	}
	rep, err := check.Run(context.Background(), os.DirFS(dir), opts...)
	require.NoError(t, err)
	return rep
}

// The expand-only sets (new tables, nullable columns, constant defaults,
// indexes built the online way, new views, a view widened at its end) give
// no finding at all: a false positive is a bug.
func TestCompatExpandOnlyIsClean(t *testing.T) {
	for _, d := range testdb.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			rep := runOn(t, d, filepath.Join("testdata/compat/expand", string(d)), check.WithTimeoutCheck())
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
	for _, d := range testdb.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			type got struct {
				code string
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
	for _, d := range []testdb.Dialect{testdb.SQLite, testdb.Postgres} {
		t.Run(string(d), func(t *testing.T) {
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
	rep := runOn(t, testdb.SQLite, "testdata/compat/contract_unacknowledged")
	assert.False(t, rep.OK)
	want := map[string][]string{
		"00002_rename_name.sql":  {check.CodeAnnotationInvalid, check.CodeColumnRenamed},
		"00003_rename_email.sql": {check.CodeAnnotationInvalid, check.CodeColumnRenamed},
	}
	for _, m := range rep.Migrations[1:] {
		var codes []string
		for _, f := range m.Findings {
			codes = append(codes, f.Code)
			assert.Equal(t, check.SeverityError, f.Severity, f.Message)
		}
		assert.ElementsMatch(t, want[m.Source], codes, m.Source)
	}
	assert.Contains(t, rep.Migrations[1].Findings[0].Message, `rollsafe:contract needs reason="why"`)
	assert.Contains(t, rep.Migrations[2].Findings[0].Message, `unknown annotation "rollsafe:contracts"`)
}

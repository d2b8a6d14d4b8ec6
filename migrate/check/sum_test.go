package check_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/migrate/check"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

func codes(fs []check.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f.Code)+" "+f.Source)
	}
	return out
}

func TestSums(t *testing.T) {
	shipped := map[string]string{
		"00001_users.sql":  "-- +goose Up\nCREATE TABLE users (id int);\n-- +goose Down\nDROP TABLE users;\n",
		"00002_orders.sql": "-- +goose Up\nCREATE TABLE orders (id int);\n-- +goose Down\nDROP TABLE orders;\n",
		"00003_seed.go":    "package migrations\n",
		"README.md":        "not a migration",
		"00004_x_test.go":  "package migrations\n",
	}
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []string
	}{
		{"unchanged", func(*testing.T, string) {}, []string{}},
		{"new migration is the upcoming release", func(t *testing.T, dir string) {
			write(t, dir, "00005_new.sql", "-- +goose Up\nSELECT 1;\n")
		}, []string{}},
		{"line endings alone change nothing", func(t *testing.T, dir string) {
			write(t, dir, "00001_users.sql", strings.ReplaceAll(shipped["00001_users.sql"], "\n", "\r\n"))
		}, []string{}},
		{"a comment in the sum file changes nothing", func(t *testing.T, dir string) {
			edit(t, dir, check.SumFile, func(s string) string { return "# reviewed\n" + s })
		}, []string{}},
		{"edited", func(t *testing.T, dir string) {
			edit(t, dir, "00002_orders.sql", func(s string) string { return strings.Replace(s, "id int", "id bigint", 1) })
		}, []string{"sum_changed 00002_orders.sql"}},
		{"go migration edited", func(t *testing.T, dir string) {
			write(t, dir, "00003_seed.go", "package migrations // edited\n")
		}, []string{"sum_changed 00003_seed.go"}},
		{"removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "00001_users.sql")))
		}, []string{"sum_missing 00001_users.sql"}},
		{"renamed", func(t *testing.T, dir string) {
			require.NoError(t, os.Rename(filepath.Join(dir, "00002_orders.sql"), filepath.Join(dir, "00002_order.sql")))
		}, []string{"sum_missing 00002_orders.sql"}},
		{"entry edited to match an edited migration", func(t *testing.T, dir string) {
			edit(t, dir, "00002_orders.sql", func(s string) string { return s + "-- more\n" })
			sums, err := check.Sums(os.DirFS(dir))
			require.NoError(t, err)
			entry := lineOf(string(sums), "00002_orders.sql")
			edit(t, dir, check.SumFile, func(s string) string {
				return strings.Replace(s, lineOf(s, "00002_orders.sql"), entry, 1)
			})
		}, []string{"sum_tampered rollsafe.sum"}},
		{"entry deleted", func(t *testing.T, dir string) {
			edit(t, dir, check.SumFile, func(s string) string { return strings.Replace(s, lineOf(s, "00001_users.sql")+"\n", "", 1) })
		}, []string{"sum_tampered rollsafe.sum"}},
		{"sum line deleted", func(t *testing.T, dir string) {
			edit(t, dir, check.SumFile, func(s string) string { return strings.Replace(s, lineOf(s, "sum sha256:")+"\n", "", 1) })
		}, []string{"sum_tampered rollsafe.sum"}},
		{"garbage", func(t *testing.T, dir string) {
			write(t, dir, check.SumFile, "hello\n")
		}, []string{"sum_tampered rollsafe.sum"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDir(t, shipped)
			n, err := check.WriteSums(dir)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			tt.change(t, dir)
			got, err := check.VerifySums(os.DirFS(dir))
			require.NoError(t, err)
			assert.Equal(t, tt.want, codes(got))
			for _, f := range got {
				assert.Equal(t, check.SeverityError, f.Severity)
				assert.Contains(t, f.Message, f.Source)
			}
		})
	}
}

func TestSumsFormat(t *testing.T) {
	fsys := fstest.MapFS{
		"00010_b.sql": {Data: []byte("b")},
		"00002_a.sql": {Data: []byte("a")},
	}
	got, err := check.Sums(fsys)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	require.Len(t, lines, 4)
	assert.True(t, strings.HasPrefix(lines[0], "# "))
	// sha256("a") and sha256("b")
	assert.Equal(t, "2 00002_a.sql sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", lines[1])
	assert.Equal(t, "10 00010_b.sql sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d", lines[2])
	assert.Regexp(t, `^sum sha256:[0-9a-f]{64}$`, lines[3])
}

func TestSumsErrors(t *testing.T) {
	_, err := check.WriteSums(filepath.Join(t.TempDir(), "nope"))
	require.ErrorContains(t, err, "nope")

	dir := writeDir(t, map[string]string{"00001_a.sql": "a"})
	_, err = check.WriteSums(dir)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, check.SumFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "readable like the migrations")

	_, err = check.WriteSums(writeDir(t, map[string]string{"notes.txt": "x"}))
	require.ErrorIs(t, err, check.ErrNoMigrations)

	got, err := check.VerifySums(fstest.MapFS{"00001_a.sql": {Data: []byte("a")}})
	require.NoError(t, err)
	assert.Empty(t, got, "no sum file: nothing shipped yet")
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
}

func edit(t *testing.T, dir, name string, fn func(string) string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	write(t, dir, name, fn(string(b)))
}

func lineOf(s, part string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

// The check reports the sum file's findings, with the analysis off too: a
// listed migration edited is on that migration, one removed on the report.
func TestRunVerifiesSums(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"00001_users.sql":  "-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n",
		"00002_orders.sql": "-- +goose Up\nCREATE TABLE orders (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE orders;\n",
	})
	_, err := check.WriteSums(dir)
	require.NoError(t, err)
	edit(t, dir, "00001_users.sql", func(s string) string { return s + "-- edited\n" })
	require.NoError(t, os.Remove(filepath.Join(dir, "00002_orders.sql")))
	for _, on := range []bool{true, false} {
		rep, err := check.Run(context.Background(), os.DirFS(dir), check.WithCompat(on))
		require.NoError(t, err)
		assert.False(t, rep.OK)
		require.Len(t, rep.Migrations, 1)
		assert.Equal(t, []string{"sum_changed 00001_users.sql"}, codes(rep.Migrations[0].Findings), "compat %v", on)
		assert.Equal(t, []string{"sum_missing 00002_orders.sql"}, codes(rep.Findings), "compat %v", on)
	}
}

// WithProgress sees a migration's sum findings with the rest of its report,
// so that a progress line never says ok about an edited migration.
func TestProgressSeesSumFindings(t *testing.T) {
	t.Parallel()
	body := "-- +goose Up\nCREATE TABLE users (id int);\n-- +goose Down\nDROP TABLE users;\n"
	dir := writeDir(t, map[string]string{"00001_users.sql": body, "00002_orders.sql": strings.ReplaceAll(body, "users", "orders")})
	_, err := check.WriteSums(dir)
	require.NoError(t, err)
	write(t, dir, "00001_users.sql", body+"-- edited\n")

	var seen []check.MigrationReport
	rep, err := check.Run(context.Background(), os.DirFS(dir), check.WithProgress(func(m check.MigrationReport) { seen = append(seen, m) }))
	require.NoError(t, err)
	assert.False(t, rep.OK)
	require.Len(t, seen, 2)
	assert.Equal(t, []string{"sum_changed 00001_users.sql"}, codes(seen[0].Findings))
	assert.Equal(t, rep.Migrations[0].Findings, seen[0].Findings)
	assert.Empty(t, seen[1].Findings)
	assert.Empty(t, rep.Findings)
}

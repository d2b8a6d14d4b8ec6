package migrate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/migrate"
)

func TestParseSQLSections(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		up, down string
		noTx     bool
	}{
		{
			name: "plain",
			src:  "-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n",
			up:   "CREATE TABLE t (id int);\n", down: "DROP TABLE t;\n",
		},
		{
			name: "statement blocks and no transaction",
			src:  "-- +goose NO TRANSACTION\n--  +goose   Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n-- +goose Down\n",
			up:   "SELECT 1;\n", noTx: true,
		},
		{
			name: "comments stay in a section",
			src:  "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- nothing\n/* really */\n;\n",
			up:   "SELECT 1;\n", down: "-- nothing\n/* really */\n;\n",
		},
		{
			name: "text before Up is SQL of neither section",
			src:  "-- a header\n-- +goose Up\nSELECT 2;\n",
			up:   "SELECT 2;\n",
		},
		{
			name: "carriage returns and no final newline",
			src:  "-- +goose Up\r\nSELECT 1;\r\n-- +goose Down\r\nSELECT 2;",
			up:   "SELECT 1;\n", down: "SELECT 2;\n",
		},
		{name: "no sections", src: "SELECT 1;\n"},
		// The NO TRANSACTION directive as goose reads it.
		{name: "no transaction after up", src: "-- +goose Up\n-- +goose NO TRANSACTION\nSELECT 1;\n", up: "SELECT 1;\n", noTx: true},
		{name: "lower case, no space", src: "--+goose no transaction\n-- +goose Up\n", noTx: true},
		{name: "indented directive is refused by goose", src: "  -- +goose NO TRANSACTION\n"},
		{name: "a comment that mentions it", src: "-- remember: +goose NO TRANSACTION would help\n"},
		{name: "inside a statement", src: "-- +goose Up\nSELECT '-- +goose NO TRANSACTION';\n", up: "SELECT '-- +goose NO TRANSACTION';\n"},
		{name: "goose named twice", src: "-- +goose +goose NO TRANSACTION\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := migrate.ParseSQL([]byte(tt.src))
			require.NoError(t, err)
			assert.Equal(t, tt.up, f.Up, "up")
			assert.Equal(t, tt.down, f.Down, "down")
			assert.Equal(t, tt.noTx, f.NoTx, "no transaction")
		})
	}
}

func TestParseSQLAnnotations(t *testing.T) {
	src := "-- +goose Up\n-- rollsafe:irreversible reason=\"drops audit\"\nDROP TABLE audit;\n" +
		"-- rollsafe:contract reason=\"nothing reads it\"\n-- +goose Down\n"
	f, err := migrate.ParseSQL([]byte(src))
	require.NoError(t, err)
	assert.Equal(t, &migrate.Annotation{Reason: "drops audit", Line: 2}, f.Irreversible)
	assert.Equal(t, &migrate.Annotation{Reason: "nothing reads it", Line: 4}, f.Contract)

	f, err = migrate.ParseSQL([]byte("-- +goose Up\nSELECT 1;\n"))
	require.NoError(t, err)
	assert.Nil(t, f.Irreversible)
	assert.Nil(t, f.Contract)
}

// A malformed annotation is an error naming each bad line; the rest of the
// file is read all the same.
func TestParseSQLBadAnnotation(t *testing.T) {
	src := "-- +goose NO TRANSACTION\n-- +goose Up\n-- rollsafe:irreversable reason=\"x\"\n-- rollsafe:contract reason=\"ok\"\n" +
		"-- rollsafe:irreversible\nSELECT 1;\n"
	f, err := migrate.ParseSQL([]byte(src))
	require.ErrorIs(t, err, migrate.ErrAnnotation)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2, err.Error())
	assert.Contains(t, lines[0], "line 3: unknown annotation \"rollsafe:irreversable\"")
	assert.Contains(t, lines[1], "line 5:")
	assert.Equal(t, &migrate.Annotation{Reason: "ok", Line: 4}, f.Contract)
	assert.Nil(t, f.Irreversible)
	assert.True(t, f.NoTx)
	assert.Equal(t, "-- rollsafe:irreversable reason=\"x\"\n-- rollsafe:contract reason=\"ok\"\n-- rollsafe:irreversible\nSELECT 1;\n", f.Up)
}

// Migration files are outside input: reading one never panics, every line
// of a section comes from the file, no directive is left in a section, and
// NO TRANSACTION depends on its own line alone.
func FuzzParseSQL(f *testing.F) {
	f.Add("-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n")
	f.Add("-- +goose NO TRANSACTION\n-- +goose Up\n/* x */\n-- +goose Down\n--")
	f.Add("-- +goose Down\n-- +goose Up\n;;")
	f.Add("--+goose\x00NO TRANSACTION")
	f.Add("-- +goose Up\n-- rollsafe:irreversible reason=\"a \\\"b\\\"\"\r\n")
	f.Fuzz(func(t *testing.T, src string) {
		got, _ := migrate.ParseSQL([]byte(src))
		for _, line := range strings.Split(got.Up+got.Down, "\n") {
			if line != "" && !strings.Contains(src, line) {
				t.Fatalf("line %q is not in the source", line)
			}
			if strings.HasPrefix(strings.TrimSpace(line), "--") && strings.Contains(line, "+goose") {
				t.Fatalf("directive %q left in a section", line)
			}
		}
		if !strings.Contains(src, "+goose") {
			assert.False(t, got.NoTx)
			assert.Empty(t, got.Up+got.Down)
		}
		more, _ := migrate.ParseSQL([]byte(src + "\n-- an unrelated comment\n"))
		assert.Equal(t, got.NoTx, more.NoTx)
		noTx, _ := migrate.ParseSQL([]byte(src + "\n-- +goose NO TRANSACTION\n"))
		assert.True(t, noTx.NoTx)
		if got.Irreversible != nil {
			assert.NotEmpty(t, strings.TrimSpace(got.Irreversible.Reason))
			assert.Positive(t, got.Irreversible.Line)
		}
	})
}

func ExampleParseSQL() {
	f, err := migrate.ParseSQL([]byte(`-- +goose NO TRANSACTION
-- +goose Up
-- rollsafe:irreversible reason="the old rows are not kept"
CREATE INDEX CONCURRENTLY orders_by_day ON orders (day);
DELETE FROM orders_archive;

-- +goose Down
DROP INDEX CONCURRENTLY orders_by_day;
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("up:\n%sdown:\n%s", f.Up, f.Down)
	fmt.Println("no transaction:", f.NoTx)
	fmt.Printf("irreversible on line %d: %s\n", f.Irreversible.Line, f.Irreversible.Reason)
	// Output:
	// up:
	// -- rollsafe:irreversible reason="the old rows are not kept"
	// CREATE INDEX CONCURRENTLY orders_by_day ON orders (day);
	// DELETE FROM orders_archive;
	//
	// down:
	// DROP INDEX CONCURRENTLY orders_by_day;
	// no transaction: true
	// irreversible on line 3: the old rows are not kept
}

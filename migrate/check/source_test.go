package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGooseSections(t *testing.T) {
	tests := []struct {
		name           string
		src            string
		up, down       string
		noTx, downGone bool
	}{
		{
			name: "plain",
			src:  "-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n",
			up:   "CREATE TABLE t (id int);\n", down: "DROP TABLE t;\n",
		},
		{
			name: "statement blocks and no transaction",
			src:  "-- +goose NO TRANSACTION\n--  +goose   Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n-- +goose Down\n",
			up:   "SELECT 1;\n", noTx: true, downGone: true,
		},
		{
			name: "down of comments only",
			src:  "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- nothing\n/* really */\n;\n",
			up:   "SELECT 1;\n", down: "-- nothing\n/* really */\n;\n", downGone: true,
		},
		{
			name: "text before Up is not SQL of either section",
			src:  "-- a header\n-- +goose Up\nSELECT 2;\n",
			up:   "SELECT 2;\n", downGone: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down, noTx := gooseSections(tt.src)
			assert.Equal(t, tt.up, up)
			assert.Equal(t, tt.down, down)
			assert.Equal(t, tt.noTx, noTx)
			assert.Equal(t, tt.downGone, isBlankSQL(down))
		})
	}
}

func TestIsBlankSQL(t *testing.T) {
	for sql, want := range map[string]bool{
		"":                   true,
		" ;\n\t":             true,
		"-- x":               true,
		"/* open":            true,
		"/* x */ SELECT 1":   false,
		"-- x\nDROP TABLE t": false,
		"-":                  false,
	} {
		assert.Equal(t, want, isBlankSQL(sql), "%q", sql)
	}
}

// Migration files are outside input: splitting never panics, and every
// line of a section comes from the file.
func FuzzGooseSections(f *testing.F) {
	f.Add("-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n")
	f.Add("-- +goose NO TRANSACTION\n-- +goose Up\n/* x */\n-- +goose Down\n--")
	f.Add("-- +goose Down\n-- +goose Up\n;;")
	f.Fuzz(func(t *testing.T, src string) {
		up, down, _ := gooseSections(src)
		for _, line := range strings.Split(up+down, "\n") {
			if line != "" && !strings.Contains(src, line) {
				t.Fatalf("line %q is not in the source", line)
			}
			if _, ok := gooseDirective(line); ok {
				t.Fatalf("directive %q left in a section", line)
			}
		}
		_ = isBlankSQL(up)
		_ = isBlankSQL(down)
	})
}

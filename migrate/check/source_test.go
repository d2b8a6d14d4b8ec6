package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/migrate"
)

// A down section of nothing but comments and semicolons is a missing down.
func TestDownMissing(t *testing.T) {
	for src, missing := range map[string]bool{
		"-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n":                                                  false,
		"-- +goose NO TRANSACTION\n--  +goose   Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n-- +goose Down\n": true,
		"-- +goose Up\nSELECT 1;\n-- +goose Down\n-- nothing\n/* really */\n;\n":                                                   true,
		"-- a header\n-- +goose Up\nSELECT 2;\n":                                                                                   true,
	} {
		f, err := migrate.ParseSQL([]byte(src))
		assert.NoError(t, err)
		assert.Equal(t, missing, isBlankSQL(f.Down), "%q", src)
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

// isBlankSQL reads outside input: it never panics, and text with a letter
// outside comments is not blank.
func FuzzIsBlankSQL(f *testing.F) {
	f.Add("-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n")
	f.Add("-- +goose NO TRANSACTION\n-- +goose Up\n/* x */\n-- +goose Down\n--")
	f.Add("-- +goose Down\n-- +goose Up\n;;")
	f.Fuzz(func(t *testing.T, src string) {
		file, _ := migrate.ParseSQL([]byte(src))
		_ = isBlankSQL(file.Up)
		_ = isBlankSQL(file.Down)
		if !strings.ContainsAny(src, "-/") && strings.Trim(src, " \t\r\n;") != "" {
			assert.False(t, isBlankSQL(src))
		}
	})
}

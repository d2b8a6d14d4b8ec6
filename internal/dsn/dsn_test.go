package dsn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/dsn"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:secret@127.0.0.1:5432/db?sslmode=disable", "postgres://u:xxxxx@127.0.0.1:5432/db?sslmode=disable"},
		{"postgres://u@127.0.0.1/db", "postgres://u@127.0.0.1/db"},
		{"postgres://u@h/db?password=secret", "postgres://u@h/db?password=xxxxx"},
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='se cret' dbname=d", "host=h password=xxxxx dbname=d"},
		{"root:secret@tcp(127.0.0.1:3306)/db?parseTime=true", "root:xxxxx@tcp(127.0.0.1:3306)/db?parseTime=true"},
		{"root@tcp(127.0.0.1:3306)/db", "root@tcp(127.0.0.1:3306)/db"},
		{"u:p@ss@tcp(h)/db", "u:xxxxx@tcp(h)/db"},
		{"file:/tmp/x.db?_pragma=busy_timeout(5000)", "file:/tmp/x.db?_pragma=busy_timeout(5000)"},
	}
	for _, tt := range tests {
		got := dsn.Redact(tt.in)
		assert.Equal(t, tt.want, got, "Redact(%q)", tt.in)
		assert.NotContains(t, got, "secret")
	}
}

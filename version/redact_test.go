package version

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://u:secret@h:8080/x/", "http://u:xxxxx@h:8080/x/"},
		{"https://u:secret@h", "https://u:xxxxx@h"},
		{"http://u:se:cret@h/", "http://u:xxxxx@h/"},
		{"http://u:secret@127.0.0.1:1/%zz", "http://u:xxxxx@127.0.0.1:1/%zz"},
		{"http://u@h/", "http://u@h/"},
		{"http://h/a@b:c", "http://h/a@b:c"},
		{"payments.json", "payments.json"},
		{"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, redact(tt.in), tt.in)
	}
}

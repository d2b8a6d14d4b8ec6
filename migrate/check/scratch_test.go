package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScratchDSNs(t *testing.T) {
	for base, want := range map[string]string{
		"root@tcp(127.0.0.1:3306)/?parseTime=true":   "root@tcp(127.0.0.1:3306)/scratch?parseTime=true",
		"u:p@tcp(db:3306)/app":                       "u:p@tcp(db:3306)/scratch?parseTime=true",
		"u:p/x@unix(/run/mysqld.sock)/app?tls=false": "u:p/x@unix(/run/mysqld.sock)/scratch?tls=false&parseTime=true",
		"root@/": "root@/scratch?parseTime=true",
	} {
		assert.Equal(t, want, withDatabase(base, "scratch"), base)
	}
}

package flagstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
)

// The environment of a child writer process (see TestWriterKilled).
const (
	envChildDialect = "ROLLSAFE_FLAGSTORE_CHILD_DIALECT"
	envChildDSN     = "ROLLSAFE_FLAGSTORE_CHILD_DSN"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChildDSN) != "" {
		os.Exit(childWriter())
	}
	// The proxy tests cut connections on purpose; the MySQL driver would
	// log each one it finds broken.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	os.Exit(m.Run())
}

// childFlags is how many flags each of the child's changes rewrites.
const childFlags = 100

// childWriter writes changes of childFlags flags each, one after the other,
// printing each revision it committed, until it is killed.
func childWriter() int {
	d, err := dialect.Parse(os.Getenv(envChildDialect))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	db, err := sql.Open(d.Driver(), os.Getenv(envChildDSN))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := flagstore.New(db, d)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	for gen := 1; ; gen++ {
		res, err := s.Apply(ctx, generation(gen))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(res.Revision)
	}
}

// generation is the change that sets every one of childFlags flags to
// generation gen, in one transaction.
func generation(gen int) flagstore.Change {
	c := flagstore.Change{Actor: "child", Reason: "generation " + strconv.Itoa(gen)}
	for i := range childFlags {
		def, _ := json.Marshal(map[string]any{
			"state":          "ENABLED",
			"variants":       map[string]any{"on": true, "off": false},
			"defaultVariant": []string{"on", "off"}[gen%2],
			"metadata":       map[string]any{"generation": gen},
		})
		c.Edits = append(c.Edits, flagstore.Put(fmt.Sprintf("f%03d", i), def))
	}
	return c
}

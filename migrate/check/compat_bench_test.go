package check

import (
	"context"
	"fmt"
	"testing"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// BenchmarkCompatFindings measures the analysis alone over the 100 steps of
// a growing schema (a table every fifth migration, then a column, an index,
// a NOT NULL column with a default and a view on it), on snapshots taken
// from SQLite beforehand: the share of "migrate check" that the analysis
// adds.
//
//	go test -run '^$' -bench CompatFindings ./migrate/check/
func BenchmarkCompatFindings(b *testing.B) {
	ctx := context.Background()
	db := testdb.New(b, dialect.SQLite)
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var steps []stepInput
	before, err := Inspect(ctx, conn, dialect.SQLite)
	if err != nil {
		b.Fatal(err)
	}
	table := 0
	for i := 1; i <= 100; i++ {
		t := fmt.Sprintf("t%02d", table)
		var up string
		switch i % 5 {
		case 1:
			table++
			t = fmt.Sprintf("t%02d", table)
			up = fmt.Sprintf("CREATE TABLE %s (id INTEGER PRIMARY KEY, code VARCHAR(32) NOT NULL UNIQUE, title TEXT, amount NUMERIC(10, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0))", t)
		case 2:
			up = fmt.Sprintf("ALTER TABLE %s ADD COLUMN note_%d TEXT", t, i)
		case 3:
			up = fmt.Sprintf("CREATE INDEX %s_by_code ON %s (code)", t, t)
		case 4:
			up = fmt.Sprintf("ALTER TABLE %s ADD COLUMN flag_%d INTEGER NOT NULL DEFAULT 0", t, i)
		case 0:
			up = fmt.Sprintf("CREATE VIEW %s_recent AS SELECT id, code FROM %s", t, t)
		}
		if _, err := conn.ExecContext(ctx, up); err != nil {
			b.Fatal(err)
		}
		after, err := Inspect(ctx, conn, dialect.SQLite)
		if err != nil {
			b.Fatal(err)
		}
		steps = append(steps, stepInput{Dialect: dialect.SQLite, Version: int64(i), Source: fmt.Sprintf("%05d_step.sql", i), UpSQL: up + ";\n", Before: before, After: after})
		before = after
	}
	b.ResetTimer()
	for b.Loop() {
		for _, s := range steps {
			if fs := compatFindings(s, compatOptions{}); len(fs) > 0 {
				b.Fatalf("expand-only steps gave findings: %v", fs)
			}
		}
	}
}

package main

import (
	"context"
	"os"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// The service's migrations must go back as well as forward, and stay
// compatible with the previous release, on every database: the same check
// that "rollsafe migrate check" runs in CI. Only a test imports the checker;
// the service itself does not.
func TestMigrationsAreReversibleAndCompatible(t *testing.T) {
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			var opts []check.Option
			switch d {
			case dialect.Postgres:
				opts = append(opts, check.WithDatabase(dialect.Postgres, adminDSN(t, testdb.EnvPostgres)))
			case dialect.MySQL:
				opts = append(opts, check.WithDatabase(dialect.MySQL, adminDSN(t, testdb.EnvMySQL)))
			}
			rep, err := check.Run(context.Background(), os.DirFS("migrations"), opts...)
			require.NoError(t, err)
			assert.Empty(t, rep.All(), "the example's migrations must produce no finding at all")
			assert.True(t, rep.OK)
			require.Len(t, rep.Migrations, 3)
			for _, m := range rep.Migrations {
				assert.True(t, m.Reversible, m.Source)
			}
		})
	}
}

func adminDSN(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if testdb.Required() {
			t.Fatalf("%s is not set (%s is set)", env, testdb.EnvRequireDBs)
		}
		t.Skipf("%s is not set", env)
	}
	return v
}

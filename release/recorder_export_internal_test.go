package release

import (
	"context"
	"database/sql"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// EnsureSchema creates the tables, for the external tests.
func EnsureSchema(ctx context.Context, db *sql.DB, d dialect.Dialect) error {
	return ensureSchema(ctx, db, d)
}

// QuerySamples is querySamples, for the external tests.
func QuerySamples(ctx context.Context, db *sql.DB, d dialect.Dialect, releaseID, flag string, from, to time.Time) (Window, error) {
	return querySamples(ctx, db, d, releaseID, flag, from, to)
}

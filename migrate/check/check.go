package check

import (
	"github.com/rollsafe/rollsafe/internal/annotation"
)

// stepInput is what the check knows about one migration once its up has run
// on the seeded scratch database: the compatibility analysis reads it.
type stepInput struct {
	Dialect string // "sqlite", "postgres" or "mysql"
	Version int64
	Source  string // file name relative to the directory
	// UpSQL and DownSQL are the SQL of the file's sections, goose
	// directives removed; both "" for a Go migration.
	UpSQL, DownSQL string
	Annotations    annotation.Set
	// Before is the schema before the up (S0), After the schema after it
	// (S1); Changes is Diff(Before, After).
	Before, After *Snapshot
	Changes       []Change
	// NoTransaction is true for "-- +goose NO TRANSACTION" files.
	NoTransaction bool
	// Go is true for a Go migration.
	Go bool
}

package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
)

// Instances started together on one new SQLite file each turn it to WAL
// as they open it; every one of them must open it.
func TestInstancesOpeningOneNewSQLiteFileTogetherAllOpenIt(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for round := range 20 {
		cfg := config{dialect: dialect.SQLite, dbPath: filepath.Join(t.TempDir(), "orders.db")}
		var wg sync.WaitGroup
		dbs := make([]*sql.DB, 6)
		errs := make([]error, len(dbs))
		for i := range dbs {
			wg.Go(func() { dbs[i], errs[i] = openDB(context.Background(), cfg, "", logger) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, instance %d", round, i)
			var mode string
			require.NoError(t, dbs[i].QueryRow("PRAGMA journal_mode").Scan(&mode))
			require.Equal(t, "wal", mode)
			require.NoError(t, dbs[i].Close())
		}
	}
}

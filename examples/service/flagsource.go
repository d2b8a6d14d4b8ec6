package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
)

// Who seeds the flag store, as its audit trail records it.
const (
	seedActor  = "examples/service"
	seedReason = "seed from the embedded flags.json"
)

// flagSource returns where the service reads its flags, and a name for it
// in logs and errors: the file of --flags, watched for changes, or else
// the flag store in the service's database, seeded from the embedded
// flags.json while it is empty. Every instance on that database reads the
// same store, so that one write (rollsafe flags kill) switches them all.
func flagSource(ctx context.Context, cfg config, db *sql.DB, logger *slog.Logger) (flags.Source, string, error) {
	if cfg.flagsPath != "" {
		src, err := flags.NewFileSource(cfg.flagsPath, flags.WithFileLogger(logger))
		if err != nil {
			return nil, "", err
		}
		logger.Info("watching flag file", "file", src.Path())
		return src, "flag file " + src.Path(), nil
	}
	// MySQL and SQLite: the store polls its revision row every 250 ms.
	// PostgreSQL: LISTEN tells it of a write at once, on a connection of
	// its own, with a 5 s safety poll beside it.
	opts := []flagstore.Option{flagstore.WithLogger(logger)}
	if cfg.dialect == dialect.Postgres {
		listener, err := pglisten.New(cfg.dsn, pglisten.WithLogger(logger))
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, flagstore.WithNotifier(listener))
	}
	store, err := flagstore.New(db, cfg.dialect, opts...)
	if err != nil {
		return nil, "", err
	}
	if err := seedFlags(ctx, store, logger); err != nil {
		return nil, "", err
	}
	return store, "flag store", nil
}

// seedFlags imports the embedded flags.json into a store at revision 0. The
// import is based on revision 0, so that of several instances starting
// together on an empty store one seeds it and the others find it seeded
// (ErrConflict), and a store that anyone has written to is never seeded
// again, even one whose flags were all deleted.
func seedFlags(ctx context.Context, store *flagstore.Store, logger *slog.Logger) error {
	rev, err := store.Revision(ctx)
	if err != nil {
		return fmt.Errorf("flag store: %w", err)
	}
	if rev > 0 {
		logger.Info("reading flags from the store", "dialect", store.Dialect(), "revision", rev)
		return nil
	}
	res, err := store.Import(ctx, defaultFlags, flagstore.Change{Actor: seedActor, Reason: seedReason, Base: new(int64(0))})
	switch {
	case errors.Is(err, flagstore.ErrConflict):
		logger.Info("the flag store was seeded by another instance", "detail", err)
		return nil
	case err != nil:
		return fmt.Errorf("seed the flag store: %w", err)
	}
	logger.Info("flag store seeded from the embedded flags.json", "dialect", store.Dialect(), "revision", res.Revision)
	return nil
}

package bench

import (
	_ "github.com/alexliesenfeld/health"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/open-feature/go-sdk/openfeature/memprovider"
	_ "github.com/pressly/goose/v3"
	_ "github.com/rollsafe/rollsafe/internal/testdb"
	_ "modernc.org/sqlite"
)

package fleet

import (
	"context"
	"fmt"
	"strconv"

	"github.com/rollsafe/rollsafe/dialect"
)

// column is one column that a release added to the table after the first:
// NewRegistry adds it to a table that lacks it.
type column struct {
	name, ddl string
}

// added are the columns the first release's table did not have, in the
// order they were added. Each has a default, so that an instance of the
// earlier release, still running beside this one, keeps inserting rows.
var added = []column{
	{"release_id", "VARCHAR(256) NOT NULL DEFAULT ''"},
	{"ready", "SMALLINT NOT NULL DEFAULT 0"},
	{"ready_detail", "VARCHAR(" + strconv.Itoa(MaxDetailLen) + ") NOT NULL DEFAULT ''"},
	{"flags_revision", "BIGINT NULL"},
}

// ensureTable creates the table if it does not exist and adds the columns it
// lacks.
func (r *Registry) ensureTable(ctx context.Context) error {
	// The column sizes hold the largest valid values: a service name of
	// 128 bytes, semver's longest version (256), and a manifest of up to
	// version.MaxManifestSize, which MySQL's TEXT (64 KiB) would refuse.
	text := "TEXT"
	if r.d == dialect.MySQL {
		text = "MEDIUMTEXT"
	}
	create := `CREATE TABLE IF NOT EXISTS ` + r.cfg.table + ` (
	id VARCHAR(64) NOT NULL PRIMARY KEY,
	service VARCHAR(128) NOT NULL,
	version VARCHAR(256) NOT NULL,
	address VARCHAR(` + strconv.Itoa(MaxAddressLen) + `) NOT NULL,
	manifest ` + text + ` NOT NULL,
	registered_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL`
	for _, c := range added {
		create += ",\n\t" + c.name + " " + c.ddl
	}
	create += "\n)"
	// Two instances starting together can race on PostgreSQL's catalog even
	// with IF NOT EXISTS; the loser's second attempt finds the table.
	if _, err := r.db.ExecContext(ctx, create); err != nil {
		if _, err2 := r.db.ExecContext(ctx, create); err2 != nil {
			return fmt.Errorf("create table %s: %w", r.cfg.table, err)
		}
	}
	have, err := r.columns(ctx)
	if err != nil {
		return err
	}
	for _, c := range added {
		if have[c.name] {
			continue
		}
		alter := `ALTER TABLE ` + r.cfg.table + ` ADD COLUMN ` + c.name + ` ` + c.ddl
		// Another instance may add the column between our look and our
		// ALTER (the ALTER then fails as a duplicate), or hold the table
		// while it does (SQLite: busy). Look again before giving up.
		var alterErr error
		for range 3 {
			if _, alterErr = r.db.ExecContext(ctx, alter); alterErr == nil {
				break
			}
			if have, err = r.columns(ctx); err != nil {
				return err
			}
			if have[c.name] {
				alterErr = nil
				break
			}
		}
		if alterErr != nil {
			return fmt.Errorf("add column %s to %s: %w", c.name, r.cfg.table, alterErr)
		}
	}
	return nil
}

// columns returns the names of the table's columns.
func (r *Registry) columns(ctx context.Context) (map[string]bool, error) {
	var q string
	switch r.d {
	case dialect.SQLite:
		q = `SELECT name FROM pragma_table_info(?)`
	case dialect.Postgres:
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`
	case dialect.MySQL:
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`
	}
	rows, err := r.db.QueryContext(ctx, r.d.Rebind(q), r.cfg.table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", r.cfg.table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the columns of %s: %w", r.cfg.table, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", r.cfg.table, err)
	}
	return have, nil
}

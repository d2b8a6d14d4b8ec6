package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// goose's version table says which versions are applied, nothing more. A
// Runner keeps what it needs beside it, in a table of its own,
// rollsafe_migrations (in the schema or database of the version table), one
// row per version:
//
//   - when a migration is applied: the file's name and SHA-256 (the sum
//     rollsafe.sum holds), so that a later Status or Up sees that the file on
//     disk is not the one that was applied;
//   - while a migration runs where its statements cannot be undone
//     (MySQL/MariaDB, whose DDL commits by itself, and NO TRANSACTION
//     migrations): the statements started so far, written before each one
//     is sent, so that a runner killed midway leaves a visible, interrupted
//     attempt;
//   - when such a migration fails: the statements that ran and the error.
//
// A failed or interrupted attempt blocks Up and Down for that migration
// until Repair resolves it; goose's table stays the truth about what is
// applied.
const recordTableName = "rollsafe_migrations"

// The states of a row.
const (
	recStarted = "started"
	recFailed  = "failed"
	recApplied = "applied"
)

// record is one row of rollsafe_migrations.
type record struct {
	version    int64
	source     string
	sum        string
	state      string
	direction  string
	statements []string
	err        string
	at         time.Time
}

// querier is a *sql.DB or a *sql.Conn.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// recordTable is the table's name, qualified like the version table.
func (r *Runner) recordTable() string {
	if qualifier, _, ok := strings.Cut(r.cfg.table, "."); ok {
		return qualifier + "." + recordTableName
	}
	return recordTableName
}

// ensureRecords creates rollsafe_migrations when it is missing, once per
// Runner. A creation that races with another runner's is tried once more.
func (r *Runner) ensureRecords(ctx context.Context, q querier) error {
	if r.recordsReady.Load() {
		return nil
	}
	text := "TEXT"
	if r.dialect == dialect.MySQL {
		text = "MEDIUMTEXT"
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + r.recordTable() + " (" +
		"version BIGINT NOT NULL PRIMARY KEY, " +
		"source VARCHAR(255) NOT NULL, " +
		"file_sum VARCHAR(80) NOT NULL, " +
		"state VARCHAR(16) NOT NULL, " +
		"direction VARCHAR(8) NOT NULL, " +
		"statements " + text + " NOT NULL, " +
		"last_error " + text + " NOT NULL, " +
		"updated_at VARCHAR(40) NOT NULL)"
	var err error
	for range 2 {
		if _, err = q.ExecContext(ctx, ddl); err == nil {
			r.recordsReady.Store(true)
			return nil
		}
	}
	return fmt.Errorf("creating %s: %w", r.recordTable(), err)
}

// readRecords returns every row, by version.
func (r *Runner) readRecords(ctx context.Context, q querier) (map[int64]record, error) {
	rows, err := q.QueryContext(ctx, "SELECT version, source, file_sum, state, direction, statements, last_error, updated_at FROM "+
		r.recordTable())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.recordTable(), err)
	}
	defer rows.Close()
	out := map[int64]record{}
	for rows.Next() {
		var rec record
		var stmts, at string
		if err := rows.Scan(&rec.version, &rec.source, &rec.sum, &rec.state, &rec.direction, &stmts, &rec.err, &at); err != nil {
			return nil, fmt.Errorf("reading %s: %w", r.recordTable(), err)
		}
		if stmts != "" {
			// A row that does not decode keeps its other fields: the
			// statements are for people.
			_ = json.Unmarshal([]byte(stmts), &rec.statements)
		}
		rec.at, _ = time.Parse(time.RFC3339Nano, at) // zero when unreadable, as above
		out[rec.version] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.recordTable(), err)
	}
	return out, nil
}

// writeRecord inserts or replaces the row of rec.version.
func (r *Runner) writeRecord(ctx context.Context, q querier, rec record) error {
	stmts := rec.statements
	if stmts == nil {
		stmts = []string{}
	}
	js, err := json.Marshal(stmts)
	if err != nil {
		return err
	}
	cols := "version, source, file_sum, state, direction, statements, last_error, updated_at"
	query := "INSERT INTO " + r.recordTable() + " (" + cols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
	if r.dialect == dialect.MySQL {
		query += "ON DUPLICATE KEY UPDATE source = VALUES(source), file_sum = VALUES(file_sum), state = VALUES(state), " +
			"direction = VALUES(direction), statements = VALUES(statements), last_error = VALUES(last_error), updated_at = VALUES(updated_at)"
	} else {
		query += "ON CONFLICT (version) DO UPDATE SET source = excluded.source, file_sum = excluded.file_sum, state = excluded.state, " +
			"direction = excluded.direction, statements = excluded.statements, last_error = excluded.last_error, updated_at = excluded.updated_at"
	}
	_, err = q.ExecContext(ctx, r.dialect.Rebind(query), rec.version, rec.source, rec.sum, rec.state, rec.direction,
		string(js), rec.err, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("writing %s: %w", r.recordTable(), err)
	}
	return nil
}

func (r *Runner) deleteRecord(ctx context.Context, q querier, version int64) error {
	if _, err := q.ExecContext(ctx, r.dialect.Rebind("DELETE FROM "+r.recordTable()+" WHERE version = ?"), version); err != nil {
		return fmt.Errorf("writing %s: %w", r.recordTable(), err)
	}
	return nil
}

// recordStatementMax bounds a statement as a row keeps it.
const recordStatementMax = 200

// recordHead and recordTail bound how many statements a row keeps: the first
// recordHead and the last recordTail, the last being the one that was in
// flight. The row is written before every statement of a migration that
// commits as it goes: a seed of 10,000 INSERTs must not rewrite a list
// growing to 10,000 entries each time.
const (
	recordHead = 10
	recordTail = 10
)

// recordStatements puts each statement on one line of at most
// recordStatementMax characters. Of more than recordHead+recordTail
// statements it keeps the first and the last ones, and says in between how
// many it left out.
func recordStatements(in []string) []string {
	if len(in) > recordHead+recordTail {
		kept := make([]string, 0, recordHead+recordTail+1)
		kept = append(kept, in[:recordHead]...)
		kept = append(kept, fmt.Sprintf("-- (%d statements not kept)", len(in)-recordHead-recordTail))
		in = append(kept, in[len(in)-recordTail:]...)
	}
	out := make([]string, len(in))
	for i, s := range in {
		s = strings.Join(strings.Fields(s), " ")
		if r := []rune(s); len(r) > recordStatementMax {
			s = string(r[:recordStatementMax-3]) + "..."
		}
		out[i] = s
	}
	return out
}

// fileSum is the SHA-256 of a migration file as rollsafe.sum writes it:
// "sha256:<hex>", with "\r\n" hashed as "\n".
func fileSum(body []byte) string {
	sum := sha256.Sum256(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// mayRemain reports whether something of a failed migration may stay in the
// database. Outside a transaction: unless its first statement is what
// failed. In a MySQL transaction: when SQL statements ran before the failing
// one (DDL among them commits by itself; a Go migration's statements are not
// known and are taken to have rolled back with its transaction).
func (e *PartialError) mayRemain() bool {
	if e.RolledBack() {
		return false
	}
	if e.Transactional {
		return len(e.Ran()) > 0
	}
	return !(len(e.Started) > 0 && len(e.Ran()) == 0)
}

// inFlight reports whether the statements of m, run in direction, are
// recorded as they start: where a runner that dies midway can leave some of
// them applied.
func (r *Runner) inFlight(m Migration, direction string) bool {
	if r.dialect == dialect.MySQL {
		return true
	}
	if direction == "down" {
		return m.NoTxDown
	}
	return m.NoTxUp
}

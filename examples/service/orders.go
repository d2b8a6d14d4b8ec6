package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
)

// orders is the service's own API.
type orders struct {
	db      *sql.DB
	dialect dialect.Dialect
	summary *flags.Switch[[]customerSummary]
	create  *flags.Switch[stored]
	// fault is what --demo-fault makes the new implementations do.
	fault fault
	// demoFaults lets ?fail=new make the new implementation fail (the
	// --demo-faults flag). Off by default: with it, any caller can trip the
	// breaker for every other caller.
	demoFaults bool
	ready      atomic.Bool // start-up work (migrations, demo data) is done
}

// started is a readiness check: it fails until start-up work is done.
func (o *orders) started(context.Context) error {
	if !o.ready.Load() {
		return errors.New("starting up")
	}
	return nil
}

// customerSummary is one line of GET /summary.
type customerSummary struct {
	Customer   string `json:"customer"`
	Orders     int    `json:"orders"`
	TotalCents int64  `json:"totalCents"`
}

func (o *orders) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /summary", o.handleSummary)
	mux.HandleFunc("POST /orders", o.handleCreate)
}

// handleSummary answers with the order totals per customer. The flag
// orders-summary-v2 chooses between the new implementation (one aggregate
// query) and the old one (totals added up in Go). With --demo-faults, the
// query parameter ?fail=new makes the new implementation fail, to watch the
// breaker send traffic back to the old one; without it, ?fail is ignored.
func (o *orders) handleSummary(w http.ResponseWriter, r *http.Request) {
	evalCtx := openfeature.NewEvaluationContext(r.Header.Get("X-User"), nil)
	failNew := o.demoFaults && r.URL.Query().Get("fail") == "new"
	path := "old"
	lines, err := o.summary.Run(r.Context(), evalCtx,
		func(ctx context.Context) ([]customerSummary, error) {
			path = "new"
			if failNew {
				return nil, errors.New("summary v2: simulated failure")
			}
			if err := o.fault.inject(ctx, "summary v2"); err != nil {
				return nil, err
			}
			return o.summaryV2(ctx)
		},
		func(ctx context.Context) ([]customerSummary, error) {
			path = "old"
			return o.summaryV1(ctx)
		})
	w.Header().Set("X-Code-Path", path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(lines)
}

// summaryV2 is the new implementation: the database aggregates.
func (o *orders) summaryV2(ctx context.Context) ([]customerSummary, error) {
	rows, err := o.db.QueryContext(ctx, `
		SELECT c.name, COUNT(o.id), COALESCE(SUM(o.total_cents), 0)
		FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
		GROUP BY c.id, c.name ORDER BY c.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customerSummary{}
	for rows.Next() {
		var s customerSummary
		if err := rows.Scan(&s.Customer, &s.Orders, &s.TotalCents); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// summaryV1 is the old implementation: every order is read and added up.
func (o *orders) summaryV1(ctx context.Context) ([]customerSummary, error) {
	rows, err := o.db.QueryContext(ctx, `
		SELECT c.name, o.total_cents
		FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
		ORDER BY c.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customerSummary{}
	for rows.Next() {
		var name string
		var total sql.NullInt64
		if err := rows.Scan(&name, &total); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Customer != name {
			out = append(out, customerSummary{Customer: name})
		}
		if total.Valid {
			out[len(out)-1].Orders++
			out[len(out)-1].TotalCents += total.Int64
		}
	}
	return out, rows.Err()
}

// seed adds demonstration data to an empty database. Instances starting
// together on one database may all find it empty: the ids are given, so
// that all but the first fail on the primary key (PostgreSQL and MySQL do
// not number an INTEGER PRIMARY KEY as SQLite does), and finding the data
// there then is success.
func (o *orders) seed(ctx context.Context) error {
	err := o.seedOnce(ctx)
	if err == nil {
		return nil
	}
	var n int
	if cerr := o.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM customers").Scan(&n); cerr == nil && n > 0 {
		return nil // another instance seeded it
	}
	return fmt.Errorf("seed the demonstration data: %w", err)
}

func (o *orders) seedOnce(ctx context.Context) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM customers").Scan(&n); err != nil || n > 0 {
		return err
	}
	for _, stmt := range []string{
		"INSERT INTO customers (id, email, name) VALUES (1, 'ada@example.com', 'Ada'), (2, 'grace@example.com', 'Grace')",
		"INSERT INTO orders (id, customer_id, total_cents) VALUES (1, 1, 1250), (2, 1, 800), (3, 2, 4100)",
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

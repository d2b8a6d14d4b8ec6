package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/open-feature/go-sdk/openfeature"
)

// order is the body of POST /orders and of its answer.
type order struct {
	// ID is chosen by the caller, so that a retried request (a timeout, a
	// dropped connection) writes the order once: the same order again is
	// answered 200 with what is stored, a different one under a taken id
	// 409.
	ID         int64  `json:"id"`
	Customer   int64  `json:"customer"`
	TotalCents int64  `json:"totalCents"`
	Note       string `json:"note,omitempty"`
}

// stored is what an implementation of POST /orders did.
type stored struct {
	order
	replay bool // the same order was stored before; nothing was written
	// refused is the caller's mistake that stored nothing (an unknown
	// customer, a taken id). It is a result, not an error of the path: a
	// caller sending bad orders must not trip the breaker for everyone.
	refused error
}

// Limits of POST /orders.
const (
	maxOrderBody = 4 << 10
	maxNoteLen   = 500 // the column's size
	// maxOrderID is the largest id the column holds on every database:
	// INTEGER is 32 bits on PostgreSQL and MySQL.
	maxOrderID = math.MaxInt32
)

// errUnknownCustomer: the order names a customer that does not exist.
var errUnknownCustomer = errors.New("no such customer")

// handleCreate stores a new order. The flag orders-create-v2 chooses the
// implementation: the new one writes it in one statement that checks the
// customer itself; the old one checks the customer, then inserts, in a
// transaction. Both write the same row.
func (o *orders) handleCreate(w http.ResponseWriter, r *http.Request) {
	in, err := decodeOrder(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	evalCtx := openfeature.NewEvaluationContext(r.Header.Get("X-User"), nil)
	path := "old"
	created, err := o.create.Run(r.Context(), evalCtx,
		func(ctx context.Context) (stored, error) {
			path = "new"
			if err := o.fault.inject(ctx, "create v2"); err != nil {
				return stored{}, err
			}
			return o.createV2(ctx, in)
		},
		func(ctx context.Context) (stored, error) {
			path = "old"
			return o.createV1(ctx, in)
		})
	w.Header().Set("X-Code-Path", path)
	var taken *takenError
	switch {
	case errors.Is(created.refused, errUnknownCustomer):
		http.Error(w, fmt.Sprintf("order %d: customer %d: %v", in.ID, in.Customer, created.refused), http.StatusUnprocessableEntity)
		return
	case errors.As(created.refused, &taken):
		http.Error(w, taken.Error(), http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	status := http.StatusCreated
	if created.replay {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(created.order)
}

func decodeOrder(w http.ResponseWriter, r *http.Request) (order, error) {
	var in order
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOrderBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("order: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, errors.New("order: one JSON object expected, more follows it")
	}
	switch {
	case in.ID <= 0 || in.ID > maxOrderID:
		return in, fmt.Errorf("order: id %d: give an id from 1 to %d, unique per order", in.ID, maxOrderID)
	case in.Customer <= 0:
		return in, fmt.Errorf("order %d: customer %d: give a customer id", in.ID, in.Customer)
	case in.TotalCents < 0:
		return in, fmt.Errorf("order %d: totalCents %d is negative", in.ID, in.TotalCents)
	case len(in.Note) > maxNoteLen:
		return in, fmt.Errorf("order %d: note of %d bytes is longer than %d", in.ID, len(in.Note), maxNoteLen)
	}
	return in, nil
}

// createV2 is the new implementation: one statement, which inserts nothing
// when the customer does not exist.
func (o *orders) createV2(ctx context.Context, in order) (stored, error) {
	res, err := o.db.ExecContext(ctx, o.dialect.Rebind(`
		INSERT INTO orders (id, customer_id, total_cents, note)
		SELECT ?, id, ?, ? FROM customers WHERE id = ?`), in.ID, in.TotalCents, nullNote(in.Note), in.Customer)
	if err != nil {
		return o.existing(ctx, in, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return stored{}, err
	} else if n == 0 {
		return stored{refused: errUnknownCustomer}, nil
	}
	return stored{order: in}, nil
}

// createV1 is the old implementation: the customer is read, then the order
// inserted, in one transaction.
func (o *orders) createV1(ctx context.Context, in order) (stored, error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return stored{}, err
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, o.dialect.Rebind("SELECT 1 FROM customers WHERE id = ?"), in.Customer).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return stored{refused: errUnknownCustomer}, nil
	case err != nil:
		return stored{}, err
	}
	if _, err := tx.ExecContext(ctx, o.dialect.Rebind(
		"INSERT INTO orders (id, customer_id, total_cents, note) VALUES (?, ?, ?, ?)"),
		in.ID, in.Customer, in.TotalCents, nullNote(in.Note)); err != nil {
		_ = tx.Rollback()
		return o.existing(ctx, in, err)
	}
	if err := tx.Commit(); err != nil {
		return stored{}, err
	}
	return stored{order: in}, nil
}

// existing explains a failed insert: an order stored under the id already
// (the same order is a replay and returned, another a *takenError), or,
// with no order under the id, the insert's own error.
func (o *orders) existing(ctx context.Context, in order, insertErr error) (stored, error) {
	var got order
	var note sql.NullString
	err := o.db.QueryRowContext(ctx, o.dialect.Rebind(
		"SELECT id, customer_id, total_cents, note FROM orders WHERE id = ?"), in.ID).
		Scan(&got.ID, &got.Customer, &got.TotalCents, &note)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return stored{}, insertErr
	case err != nil:
		return stored{}, errors.Join(insertErr, err)
	}
	got.Note = note.String
	if got != in {
		return stored{refused: &takenError{id: in.ID}}, nil
	}
	return stored{order: got, replay: true}, nil
}

// takenError: another order is stored under the id.
type takenError struct{ id int64 }

func (e *takenError) Error() string {
	return fmt.Sprintf("order %d: another order is stored under this id", e.id)
}

func nullNote(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

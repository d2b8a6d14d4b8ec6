package check

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// rowSet is the content of one table: each row as one string per column
// (columns sorted by name), keyed by the primary key where there is one.
type rowSet struct {
	cols []string
	key  []int // positions in cols of the primary key; nil when none
	rows [][]string
}

// rowSetRead reads every row of the given tables.
func rowSetRead(ctx context.Context, db *sql.DB, d dialect.Dialect, tables []*Table) (map[string]*rowSet, error) {
	out := make(map[string]*rowSet, len(tables))
	if d == dialect.SQLite {
		// One compound SELECT per batch of tables: SQLite renders every
		// value with quote(), and the per-statement cost dominates reading
		// a few rows.
		const batch = 200 // below SQLite's limit of 500 compound terms
		for start := 0; start < len(tables); start += batch {
			if err := rowSetReadSQLite(ctx, db, tables[start:min(start+batch, len(tables))], out); err != nil {
				return nil, fmt.Errorf("check: read rows: %w", err)
			}
		}
		return out, nil
	}
	for _, t := range tables {
		rs, err := rowSetReadTable(ctx, db, d, t)
		if err != nil {
			return nil, fmt.Errorf("check: read rows of %s: %w", t.Name, err)
		}
		out[t.Name] = rs
	}
	return out, nil
}

func rowSetReadSQLite(ctx context.Context, db *sql.DB, tables []*Table, out map[string]*rowSet) error {
	width := 0
	sets := make([]*rowSet, len(tables))
	for i, t := range tables {
		sets[i] = newRowSet(t)
		out[t.Name] = sets[i]
		width = max(width, len(sets[i].cols))
	}
	if width == 0 {
		return nil
	}
	var q strings.Builder
	for i, t := range tables {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT %d", i)
		for j := 0; j < width; j++ {
			if j < len(sets[i].cols) {
				q.WriteString(", quote(" + dialect.SQLite.QuoteIdent(sets[i].cols[j]) + ")")
			} else {
				q.WriteString(", NULL")
			}
		}
		q.WriteString(" FROM " + dialect.SQLite.QuoteIdent(t.Name))
	}
	rows, err := db.QueryContext(ctx, q.String())
	if err != nil {
		return err
	}
	var idx int
	vals := make([]sql.NullString, width)
	ptrs := make([]any, width+1)
	ptrs[0] = &idx
	for i := range vals {
		ptrs[i+1] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		rs := sets[idx]
		row := make([]string, len(rs.cols))
		for j := range row {
			row[j] = vals[j].String
		}
		rs.rows = append(rs.rows, row)
	}
	return closeRows(rows)
}

func newRowSet(t *Table) *rowSet {
	rs := &rowSet{}
	for _, c := range t.Columns {
		rs.cols = append(rs.cols, c.Name)
	}
	slices.Sort(rs.cols)
	if t.PrimaryKey != nil {
		for _, p := range t.PrimaryKey.Parts {
			i := slices.Index(rs.cols, p)
			if i < 0 {
				rs.key = nil // an expression: compare whole rows
				break
			}
			rs.key = append(rs.key, i)
		}
	}
	return rs
}

func rowSetReadTable(ctx context.Context, db *sql.DB, d dialect.Dialect, t *Table) (*rowSet, error) {
	rs := newRowSet(t)
	quoted := make([]string, len(rs.cols))
	for i, c := range rs.cols {
		quoted[i] = d.QuoteIdent(c)
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+d.QuoteIdent(t.Name))
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(rs.cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = rowSetText(v)
		}
		rs.rows = append(rs.rows, row)
	}
	return rs, closeRows(rows)
}

// rowSetText renders a scanned value; NULL is distinct from every string.
func rowSetText(v any) string {
	switch v := v.(type) {
	case nil:
		return "\x00NULL"
	case []byte:
		return "x" + hex.EncodeToString(v)
	case time.Time:
		return "t" + v.UTC().Format(time.RFC3339Nano)
	case string:
		return "s" + v
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// rowSetDiff compares the rows of before with after over the columns both
// have, and returns how many rows were lost and how many changed.
func rowSetDiff(before, after *rowSet) (lost, changed int) {
	var common []string
	for _, c := range before.cols {
		if slices.Contains(after.cols, c) {
			common = append(common, c)
		}
	}
	pick := func(rs *rowSet, row []string) uint64 {
		h := fnv.New64a()
		for _, c := range common {
			h.Write([]byte(row[slices.Index(rs.cols, c)]))
			h.Write([]byte{0})
		}
		return h.Sum64()
	}
	keyOf := func(rs *rowSet, row []string) (string, bool) {
		if rs.key == nil {
			return "", false
		}
		var b strings.Builder
		for _, i := range rs.key {
			b.WriteString(row[i])
			b.WriteByte(0)
		}
		return b.String(), true
	}
	keyed := before.key != nil && after.key != nil && keyCols(before) == keyCols(after)
	if keyed {
		afterBy := make(map[string]uint64, len(after.rows))
		for _, r := range after.rows {
			k, _ := keyOf(after, r)
			afterBy[k] = pick(after, r)
		}
		for _, r := range before.rows {
			k, _ := keyOf(before, r)
			h, ok := afterBy[k]
			switch {
			case !ok:
				lost++
			case h != pick(before, r):
				changed++
			}
		}
		return lost, changed
	}
	counts := make(map[uint64]int, len(after.rows))
	for _, r := range after.rows {
		counts[pick(after, r)]++
	}
	for _, r := range before.rows {
		h := pick(before, r)
		if counts[h] > 0 {
			counts[h]--
			continue
		}
		lost++
	}
	return lost, 0
}

func keyCols(rs *rowSet) string {
	names := make([]string, len(rs.key))
	for i, k := range rs.key {
		names[i] = rs.cols[k]
	}
	return strings.Join(names, ",")
}

package check

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// seedRows is how many rows the check puts into every table.
const seedRows = 3

// seedAttempts bounds the candidate rows tried for one row before the table
// is reported as one for which rows cannot be generated.
const seedAttempts = 12

// seeder generates rows that fit a table's types and constraints. Values
// come from a counter that only grows, so rows are distinct within a run
// and UNIQUE constraints hold across the rows of earlier steps.
type seeder struct {
	dialect dialect.Dialect
	n       int64
	// seeded maps a table to the canonical text of its definition when it
	// was last seeded: a table is seeded again only when its definition
	// changed, so every table always holds rows with a value in every
	// column of its current shape, without the data growing by a fixed
	// amount per table per migration.
	seeded map[string]string
}

func newSeeder(d dialect.Dialect) *seeder {
	return &seeder{dialect: d, seeded: map[string]string{}}
}

// seedFailure is a table that got fewer rows than seedRows.
type seedFailure struct {
	table    string
	inserted int
	err      error
}

// seed inserts seedRows rows into every table of snap whose definition
// changed since it was last seeded, parents before children, in one
// transaction.
func (s *seeder) seed(ctx context.Context, db *sql.DB, snap *Snapshot) ([]seedFailure, error) {
	var todo []*Table
	for _, t := range seedOrder(snap.Tables) {
		fp := seedFingerprint(t)
		if s.seeded[t.Name] != fp {
			s.seeded[t.Name] = fp
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("check: seed rows: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var failures []seedFailure
	for _, t := range todo {
		n, err := s.seedTable(ctx, tx, snap, t)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if n < seedRows {
			failures = append(failures, seedFailure{table: t.Name, inserted: n, err: err})
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("check: seed rows: %w", err)
	}
	return failures, nil
}

func seedFingerprint(t *Table) string {
	var b strings.Builder
	for _, c := range t.Columns {
		b.WriteString(columnText(c) + "\n")
	}
	for _, i := range t.Indexes {
		b.WriteString(indexText(i) + "\n")
	}
	for _, f := range t.ForeignKeys {
		b.WriteString(foreignKeyText(f) + "\n")
	}
	for _, c := range t.Checks {
		b.WriteString(checkText(c) + "\n")
	}
	return b.String()
}

// seedOrder returns the tables with every table after the tables
// it references (cycles are broken in name order).
func seedOrder(tables []Table) []*Table {
	byName := map[string]*Table{}
	for i := range tables {
		byName[tables[i].Name] = &tables[i]
	}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var out []*Table
	var visit func(t *Table)
	visit = func(t *Table) {
		if state[t.Name] != 0 {
			return
		}
		state[t.Name] = 1
		for _, fk := range t.ForeignKeys {
			if p, ok := byName[fk.RefTable]; ok && p != t {
				visit(p)
			}
		}
		state[t.Name] = 2
		out = append(out, t)
	}
	for i := range tables {
		visit(&tables[i])
	}
	return out
}

// seedTable inserts up to seedRows rows into t and returns how many it
// inserted and the last error.
func (s *seeder) seedTable(ctx context.Context, tx *sql.Tx, snap *Snapshot, t *Table) (int, error) {
	parents, err := s.parentKeys(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	var cols []Column
	for _, c := range t.Columns {
		// The database fills identity, serial and auto-increment columns;
		// PostgreSQL refuses values for GENERATED ALWAYS ones.
		if c.Generated == "" && !c.AutoIncrement {
			cols = append(cols, c)
		}
	}
	candidates := seedCandidates(t)
	if s.dialect == dialect.Postgres {
		done, err := s.seedAtOnce(ctx, tx, snap, t, cols, parents, candidates)
		if err != nil {
			return 0, err
		}
		if done {
			return seedRows, nil
		}
	}
	inserted := 0
	var lastErr error
	for r := 0; r < seedRows; r++ {
		ok := false
		for a := 0; a < seedAttempts && !ok; a++ {
			names, vals, err := s.row(snap, t, cols, parents, candidates, r, a)
			if err != nil {
				lastErr = err
				break
			}
			if err := s.insert(ctx, tx, t.Name, names, vals); err != nil {
				lastErr = err
				if ctx.Err() != nil {
					return inserted, ctx.Err()
				}
				continue
			}
			ok = true
		}
		if ok {
			inserted++
		}
	}
	return inserted, lastErr
}

// parentKeys reads, for each foreign key of t, the referenced key values of
// the newest rows of the parent table.
func (s *seeder) parentKeys(ctx context.Context, tx *sql.Tx, t *Table) ([][][]any, error) {
	out := make([][][]any, len(t.ForeignKeys))
	for i, fk := range t.ForeignKeys {
		if len(fk.RefColumns) == 0 {
			continue
		}
		q := "SELECT " + s.quoteList(fk.RefColumns) + " FROM " + s.quote(fk.RefTable) +
			" WHERE " + s.notNull(fk.RefColumns) + " LIMIT 64"
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read keys of %s: %w", fk.RefTable, err)
		}
		for rows.Next() {
			vals := make([]any, len(fk.RefColumns))
			ptrs := make([]any, len(vals))
			for j := range vals {
				ptrs[j] = &vals[j]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			out[i] = append(out[i], vals)
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// row builds attempt a of row r: column names and values. Attempt 0 uses a
// fresh value for every column; later attempts try, for columns that a
// CHECK mentions, the literals of that CHECK (and their neighbours), the
// column's default, and NULL where allowed.
func (s *seeder) row(snap *Snapshot, t *Table, cols []Column, parents [][][]any, cands map[string][]any, r, a int) ([]string, []any, error) {
	fkVal := map[string]any{}
	selfRef := map[string]string{} // column → the column of the same row it must equal
	for i, fk := range t.ForeignKeys {
		keys := parents[i]
		if len(keys) == 0 {
			if fk.RefTable == t.Name {
				// The first rows of a table that references itself point
				// at themselves.
				for j, c := range fk.Columns {
					if j < len(fk.RefColumns) {
						selfRef[c] = fk.RefColumns[j]
					}
				}
				continue
			}
			allNullable := true
			for _, c := range fk.Columns {
				if col := t.Column(c); col != nil && !col.Nullable {
					allNullable = false
				}
			}
			if allNullable {
				for _, c := range fk.Columns {
					fkVal[c] = nil
				}
				continue
			}
			return nil, nil, fmt.Errorf("table %s references %s, which has no rows", t.Name, fk.RefTable)
		}
		k := keys[(r+a*seedRows)%len(keys)]
		for j, c := range fk.Columns {
			if _, set := fkVal[c]; !set && j < len(k) {
				fkVal[c] = k[j]
			}
		}
	}
	var names []string
	var vals []any
	for _, c := range cols {
		s.n++
		if v, ok := fkVal[c.Name]; ok {
			names, vals = append(names, c.Name), append(vals, v)
			continue
		}
		if a > 0 {
			if cs := cands[c.Name]; len(cs) > 0 {
				v := cs[(a-1+r)%len(cs)]
				if v == seedOmit {
					continue
				}
				names, vals = append(names, c.Name), append(vals, s.convert(c, v))
				continue
			}
		}
		v, ok := s.value(snap, c)
		if !ok {
			if c.Nullable || c.Default != nil {
				continue
			}
			return nil, nil, fmt.Errorf("no value for column %s.%s of type %s", t.Name, c.Name, c.Type)
		}
		names, vals = append(names, c.Name), append(vals, v)
	}
	for i, n := range names {
		if ref, ok := selfRef[n]; ok {
			if j := slices.Index(names, ref); j >= 0 {
				vals[i] = vals[j]
			}
		}
	}
	return names, vals, nil
}

// seedOmit as a candidate leaves the column to its default.
var seedOmit = new(int)

var (
	seedReQuoted = regexp.MustCompile(`'((?:[^']|'')*)'`)
	seedReNumber = regexp.MustCompile(`(^|[^\w.])(-?\d+(?:\.\d+)?)`)
)

// seedCandidates returns, per column a CHECK mentions, values to try.
func seedCandidates(t *Table) map[string][]any {
	out := map[string][]any{}
	for _, ck := range t.Checks {
		lits := seedReQuoted.FindAllStringSubmatch(ck.Expr, -1)
		rest := seedReQuoted.ReplaceAllString(ck.Expr, "''")
		nums := seedReNumber.FindAllStringSubmatch(rest, -1)
		for _, c := range t.Columns {
			if !seedMentions(ck.Expr, c.Name) {
				continue
			}
			for _, l := range lits {
				out[c.Name] = append(out[c.Name], strings.ReplaceAll(l[1], "''", "'"))
			}
			for _, m := range nums {
				if f, err := strconv.ParseFloat(m[2], 64); err == nil {
					out[c.Name] = append(out[c.Name], f+1, f, f-1, f+2)
				}
			}
			if c.Default != nil {
				out[c.Name] = append(out[c.Name], seedOmit)
			}
			if c.Nullable {
				out[c.Name] = append(out[c.Name], nil)
			}
		}
	}
	return out
}

func seedMentions(expr, col string) bool {
	return regexp.MustCompile(`(?i)(^|[^\w])["` + "`" + `]?` + regexp.QuoteMeta(col) + `["` + "`" + `]?($|[^\w])`).MatchString(expr)
}

// convert fits a CHECK literal to the column's kind.
func (s *seeder) convert(c Column, v any) any {
	f, isNum := v.(float64)
	switch kind := seedTypeKind(c.Type); {
	case isNum && (kind == seedKindInt || kind == seedKindSmallInt || kind == seedKindTinyInt):
		return int64(f)
	case isNum && kind == seedKindText:
		return strconv.FormatFloat(f, 'f', -1, 64)
	case isNum && kind == seedKindBool:
		return f != 0
	}
	return v
}

type seedKind int

const (
	seedKindText seedKind = iota
	seedKindInt
	seedKindSmallInt
	seedKindTinyInt
	seedKindBool
	seedKindDecimal
	seedKindFloat
	seedKindDate
	seedKindTimestamp
	seedKindTime
	seedKindJSON
	seedKindUUID
	seedKindBinary
	seedKindInet
	seedKindEnum
	seedKindUnknown
)

func seedTypeKind(t string) seedKind {
	base, _, _ := strings.Cut(t, "(")
	base = strings.TrimSpace(strings.TrimSuffix(base, " unsigned"))
	switch {
	case strings.HasPrefix(base, "enum"):
		return seedKindEnum
	case t == "tinyint(1)" || base == "bool" || base == "boolean" || base == "bit":
		return seedKindBool
	case base == "tinyint":
		return seedKindTinyInt
	case base == "smallint" || base == "int2" || base == "smallserial":
		return seedKindSmallInt
	case strings.Contains(base, "int") || strings.Contains(base, "serial"):
		return seedKindInt
	case base == "numeric" || base == "decimal" || base == "money":
		return seedKindDecimal
	case strings.Contains(base, "real") || strings.Contains(base, "float") || strings.Contains(base, "double"):
		return seedKindFloat
	case base == "date":
		return seedKindDate
	case strings.HasPrefix(base, "timestamp") || base == "datetime":
		return seedKindTimestamp
	case strings.HasPrefix(base, "time"):
		return seedKindTime
	case strings.HasPrefix(base, "json"):
		return seedKindJSON
	case base == "uuid":
		return seedKindUUID
	case strings.Contains(base, "blob") || base == "bytea" || strings.Contains(base, "binary"):
		return seedKindBinary
	case base == "inet" || base == "cidr":
		return seedKindInet
	case strings.Contains(base, "char") || strings.Contains(base, "text") || strings.Contains(base, "clob") || base == "string" || base == "":
		return seedKindText
	}
	return seedKindUnknown
}

var seedEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// value returns a fresh value for column c (from s.n), or false when the
// check cannot make one for its type.
func (s *seeder) value(snap *Snapshot, c Column) (any, bool) {
	n := s.n
	if e := snap.Enum(strings.Trim(c.Type, `"`)); e != nil && len(e.Values) > 0 {
		return e.Values[int(n)%len(e.Values)], true
	}
	if elem, ok := strings.CutSuffix(c.Type, "[]"); ok {
		// A PostgreSQL array of one element, in its text form.
		v, ok := s.value(snap, Column{Name: c.Name, Type: elem})
		switch v := v.(type) {
		case string:
			return `{"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"}`, ok
		case int64, float64, bool:
			return fmt.Sprintf("{%v}", v), ok
		}
		return nil, false
	}
	switch seedTypeKind(c.Type) {
	case seedKindInt:
		return n, true
	case seedKindSmallInt:
		return n % 30000, true
	case seedKindTinyInt:
		return n % 120, true
	case seedKindBool:
		return n%2 == 0, true
	case seedKindDecimal:
		p, sc := seedTypeArgs(c.Type)
		if p == 0 {
			p = 10
		}
		limit := int64(1)
		for i := 0; i < p-sc && i < 15; i++ {
			limit *= 10
		}
		if sc > 0 {
			return fmt.Sprintf("%d.%d", n%limit, n%9+1), true
		}
		return strconv.FormatInt(n%limit, 10), true
	case seedKindFloat:
		return float64(n) + 0.25, true
	case seedKindDate:
		return seedEpoch.AddDate(0, 0, int(n)).Format("2006-01-02"), true
	case seedKindTimestamp:
		return seedEpoch.Add(time.Duration(n) * time.Minute).Format("2006-01-02 15:04:05"), true
	case seedKindTime:
		return seedEpoch.Add(time.Duration(n%86400) * time.Second).Format("15:04:05"), true
	case seedKindJSON:
		return fmt.Sprintf(`{"n": %d}`, n), true
	case seedKindUUID:
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n), true
	case seedKindBinary:
		size, _ := seedTypeArgs(c.Type)
		b := []byte("b" + strconv.FormatInt(n, 36))
		if size > 0 && len(b) > size {
			b = b[len(b)-size:]
		}
		return b, true
	case seedKindInet:
		return fmt.Sprintf("10.%d.%d.%d", (n>>16)%256, (n>>8)%256, n%256), true
	case seedKindEnum:
		vals := seedEnumLiterals(c.Type)
		if len(vals) == 0 {
			return nil, false
		}
		return vals[int(n)%len(vals)], true
	case seedKindText:
		size, _ := seedTypeArgs(c.Type)
		v := "v" + strconv.FormatInt(n, 36)
		if size > 0 && len(v) > size {
			v = v[len(v)-size:]
		}
		return v, true
	}
	return nil, false
}

var seedReTypeNums = regexp.MustCompile(`\((\d+)(?:\s*,\s*(\d+))?\)`)

// seedTypeArgs returns the size or precision and the scale of a type.
func seedTypeArgs(t string) (int, int) {
	m := seedReTypeNums.FindStringSubmatch(t)
	if m == nil {
		return 0, 0
	}
	p, _ := strconv.Atoi(m[1])
	sc, _ := strconv.Atoi(m[2])
	return p, sc
}

func seedEnumLiterals(t string) []string {
	var out []string
	for _, m := range seedReQuoted.FindAllStringSubmatch(t, -1) {
		out = append(out, strings.ReplaceAll(m[1], "''", "'"))
	}
	return out
}

// seedAtOnce inserts the first candidate of every row under one savepoint,
// which is how seeding a table nearly always goes: it spares PostgreSQL a
// savepoint per row. It reports false, having rolled its rows back, when a
// row fails, so that seedTable tries row by row; its error is only for a
// transaction that can no longer be used.
func (s *seeder) seedAtOnce(ctx context.Context, tx *sql.Tx, snap *Snapshot, t *Table, cols []Column, parents [][][]any, cands map[string][]any) (bool, error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT rollsafe_seed_table"); err != nil {
		return false, err
	}
	for r := 0; r < seedRows; r++ {
		names, vals, err := s.row(snap, t, cols, parents, cands, r, 0)
		if err == nil {
			_, err = tx.ExecContext(ctx, s.insertSQL(t.Name, names), vals...)
		}
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT rollsafe_seed_table"); rerr != nil {
				return false, rerr
			}
			return false, ctx.Err()
		}
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT rollsafe_seed_table")
	return err == nil, err
}

func (s *seeder) insertSQL(table string, names []string) string {
	if len(names) == 0 {
		if s.dialect == dialect.MySQL {
			return "INSERT INTO " + s.quote(table) + " () VALUES ()"
		}
		return "INSERT INTO " + s.quote(table) + " DEFAULT VALUES"
	}
	ph := make([]string, len(names))
	for i := range ph {
		ph[i] = s.placeholder(i)
	}
	return "INSERT INTO " + s.quote(table) + " (" + s.quoteList(names) + ") VALUES (" + strings.Join(ph, ", ") + ")"
}

func (s *seeder) insert(ctx context.Context, tx *sql.Tx, table string, names []string, vals []any) error {
	q := s.insertSQL(table, names)
	if s.dialect != dialect.Postgres {
		_, err := tx.ExecContext(ctx, q, vals...)
		return err
	}
	// A failed statement aborts a PostgreSQL transaction; a savepoint keeps
	// the rows inserted so far.
	if _, err := tx.ExecContext(ctx, "SAVEPOINT rollsafe_seed"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q, vals...); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT rollsafe_seed"); rerr != nil {
			return rerr
		}
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT rollsafe_seed")
	return err
}

func (s *seeder) placeholder(i int) string {
	if s.dialect == dialect.Postgres {
		return "$" + strconv.Itoa(i+1)
	}
	return "?"
}

func (s *seeder) quote(name string) string { return s.dialect.QuoteIdent(name) }

func (s *seeder) quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = s.quote(n)
	}
	return strings.Join(q, ", ")
}

func (s *seeder) notNull(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = s.quote(n) + " IS NOT NULL"
	}
	return strings.Join(q, " AND ")
}

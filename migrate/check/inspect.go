package check

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/mysql"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
)

// versionTable is goose's version table, which snapshots leave out.
const versionTable = "goose_db_version"

// Inspect returns the snapshot of the schema (PostgreSQL) or database (MySQL)
// that conn currently uses, or of SQLite's main database; d is the
// database's dialect. On PostgreSQL the inspection changes the
// connection's search_path while it runs and restores it, which is why it
// takes a connection rather than a pool.
func Inspect(ctx context.Context, conn *sql.Conn, d dialect.Dialect) (*Snapshot, error) {
	in, err := newInspector(ctx, conn, d)
	if err != nil {
		return nil, err
	}
	return in.snapshot(ctx)
}

// inspector holds an atlas driver open on one connection, so that a run
// pays for opening it once.
type inspector struct {
	conn    querier
	dialect dialect.Dialect
	drv     atlasmigrate.Driver
	schema  string // the inspected schema/database name
	// tables caches SQLite tables by the text of their CREATE statements
	// (table and indexes), which SQLite keeps verbatim and rewrites on every
	// change: an unchanged text is an unchanged table, so a run inspects
	// through atlas only the tables a migration touched.
	tables   map[string]*cachedTable // by fingerprint
	viewCols map[string]cachedView   // SQLite view columns, see sqliteViewsTriggers
	gen      int                     // snapshots taken, for evicting tables
}

type cachedTable struct {
	table Table
	used  int // the gen of the last snapshot that held it
}

// querier is a *sql.Conn, or for SQLite a *sql.DB limited to one connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func newInspector(ctx context.Context, conn querier, d dialect.Dialect) (*inspector, error) {
	in := &inspector{conn: conn, dialect: d}
	var err error
	switch d {
	case dialect.SQLite:
		in.drv, err = sqlite.Open(conn)
		in.schema = "main"
	case dialect.Postgres:
		in.drv, err = postgres.Open(conn)
		if err == nil {
			err = conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&in.schema)
		}
	case dialect.MySQL:
		in.drv, err = mysql.Open(conn)
		if err == nil {
			var name sql.NullString
			err = conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name)
			if err == nil && !name.Valid {
				err = fmt.Errorf("no database selected")
			}
			in.schema = name.String
		}
	default:
		return nil, fmt.Errorf("check: %w", d.Validate())
	}
	if err != nil {
		return nil, fmt.Errorf("check: open %s inspector: %w", d, err)
	}
	return in, nil
}

func (in *inspector) snapshot(ctx context.Context) (*Snapshot, error) {
	switch in.dialect {
	case dialect.SQLite:
		return in.sqliteSnapshot(ctx)
	case dialect.Postgres:
		return in.postgresSnapshot(ctx)
	}
	mode := schema.InspectSchemas | schema.InspectTables
	if in.dialect == dialect.Postgres {
		mode |= schema.InspectTypes
	}
	realm, err := in.drv.InspectRealm(ctx, &schema.InspectRealmOption{Mode: mode, Schemas: []string{in.schema}})
	if err != nil {
		return nil, fmt.Errorf("check: inspect %s schema %q: %w", in.dialect, in.schema, err)
	}
	s := &Snapshot{Dialect: in.dialect}
	for _, sc := range realm.Schemas {
		for _, t := range sc.Tables {
			if ignoredTable(t.Name) {
				continue
			}
			s.Tables = append(s.Tables, in.table(t))
		}
		for _, o := range sc.Objects {
			if e, ok := o.(*schema.EnumType); ok {
				s.Enums = append(s.Enums, Enum{Name: e.T, Values: slices.Clone(e.Values)})
			}
		}
	}
	if err := in.catalog(ctx, s); err != nil {
		return nil, err
	}
	s.sort()
	return s, nil
}

// ignoredTable reports whether a table belongs to goose or to rollsafe
// itself rather than to the schema the migrations build.
func ignoredTable(name string) bool {
	return name == versionTable || strings.HasPrefix(name, "rollsafe_") || strings.HasPrefix(name, "sqlite_")
}

func (s *Snapshot) sort() {
	byName := func(a, b string) int { return strings.Compare(a, b) }
	slices.SortFunc(s.Tables, func(a, b Table) int { return byName(a.Name, b.Name) })
	slices.SortFunc(s.Views, func(a, b View) int { return byName(a.Name, b.Name) })
	slices.SortFunc(s.Triggers, func(a, b Trigger) int { return byName(a.Name, b.Name) })
	slices.SortFunc(s.Sequences, func(a, b Sequence) int { return byName(a.Name, b.Name) })
	slices.SortFunc(s.Enums, func(a, b Enum) int { return byName(a.Name, b.Name) })
	for i := range s.Tables {
		t := &s.Tables[i]
		slices.SortFunc(t.Indexes, func(a, b Index) int { return byName(a.Name, b.Name) })
		slices.SortFunc(t.ForeignKeys, func(a, b ForeignKey) int { return byName(a.Name, b.Name) })
		slices.SortFunc(t.Checks, func(a, b CheckConstraint) int { return byName(a.Name, b.Name) })
	}
}

func (in *inspector) table(t *schema.Table) Table {
	out := Table{Name: t.Name}
	for _, c := range t.Columns {
		out.Columns = append(out.Columns, in.column(c))
	}
	if pk := t.PrimaryKey; pk != nil && len(pk.Parts) > 0 {
		idx := in.index(t.Name, pk)
		idx.Unique = true
		if in.dialect != dialect.Postgres || idx.Name == "" || idx.Name == t.Name+"_pkey" {
			idx.Name, idx.Generated = t.Name+"_pkey", true
		}
		out.PrimaryKey = &idx
		if in.dialect == dialect.SQLite && len(pk.Parts) == 1 && sqliteAutoinc(t) {
			if c := out.Column(pk.Parts[0].C.Name); c != nil {
				c.AutoIncrement = true
			}
		}
	}
	for _, ix := range t.Indexes {
		out.Indexes = append(out.Indexes, in.index(t.Name, ix))
	}
	for _, fk := range t.ForeignKeys {
		out.ForeignKeys = append(out.ForeignKeys, in.foreignKey(t.Name, fk))
	}
	for _, a := range t.Attrs {
		if ck, ok := a.(*schema.Check); ok {
			expr := collapseSpace(ck.Expr)
			c := CheckConstraint{Name: ck.Name, Expr: expr, dbName: ck.Name}
			if c.Name == "" || in.generatedCheckName(t, c.Name) {
				c.Name, c.Generated = t.Name+"_check_"+shortHash(expr), true
			}
			out.Checks = append(out.Checks, c)
		}
	}
	dedupeNames(out.Indexes, func(i *Index) *string { return &i.Name })
	dedupeNames(out.ForeignKeys, func(f *ForeignKey) *string { return &f.Name })
	dedupeNames(out.Checks, func(c *CheckConstraint) *string { return &c.Name })
	return out
}

func sqliteAutoinc(t *schema.Table) bool {
	for _, a := range t.Attrs {
		if _, ok := a.(*sqlite.AutoIncrement); ok {
			return true
		}
	}
	return false
}

func (in *inspector) column(c *schema.Column) Column {
	out := Column{Name: c.Name, Type: in.typeText(c.Type), Nullable: c.Type.Null}
	if c.Default != nil {
		d := exprText(c.Default)
		if in.dialect == dialect.Postgres && strings.HasPrefix(d, "nextval(") {
			out.AutoIncrement = true
		} else {
			out.Default = &d
		}
	}
	for _, a := range c.Attrs {
		switch a := a.(type) {
		case *schema.GeneratedExpr:
			out.Generated = collapseSpace(a.Expr)
		case *postgres.Identity:
			out.AutoIncrement = true
		case *mysql.AutoIncrement:
			out.AutoIncrement = true
		case *sqlite.AutoIncrement:
			out.AutoIncrement = true
		}
	}
	if _, ok := c.Type.Type.(*postgres.SerialType); ok {
		out.AutoIncrement = true
	}
	return out
}

func exprText(x schema.Expr) string {
	switch x := schema.UnderlyingExpr(x).(type) {
	case *schema.Literal:
		return x.V
	case *schema.RawExpr:
		return collapseSpace(x.X)
	}
	return fmt.Sprint(x)
}

// typeAliases folds the spellings a database reports for one type.
var typeAliases = map[string]string{
	"int":                         "integer",
	"int4":                        "integer",
	"int8":                        "bigint",
	"int2":                        "smallint",
	"serial":                      "integer",
	"bigserial":                   "bigint",
	"smallserial":                 "smallint",
	"bool":                        "boolean",
	"float8":                      "double precision",
	"float4":                      "real",
	"character varying":           "varchar",
	"character":                   "char",
	"timestamp without time zone": "timestamp",
	"timestamp with time zone":    "timestamptz",
	"time without time zone":      "time",
	"time with time zone":         "timetz",
	"decimal":                     "numeric",
}

var reTypeArgs = regexp.MustCompile(`^([a-z ]+?)\s*(\(.*\))?(\s+unsigned)?$`)

func (in *inspector) typeText(ct *schema.ColumnType) string {
	raw := ct.Raw
	switch in.dialect {
	case dialect.Postgres:
		if f, err := postgres.FormatType(ct.Type); err == nil && f != "" {
			raw = f
		}
	case dialect.MySQL:
		if f, err := mysql.FormatType(ct.Type); err == nil && f != "" {
			raw = f
		}
	}
	t := strings.ToLower(collapseSpace(raw))
	if in.dialect == dialect.SQLite {
		// SQLite keeps the declared text; only its spacing and case vary.
		return t
	}
	if m := reTypeArgs.FindStringSubmatch(t); m != nil {
		if a, ok := typeAliases[m[1]]; ok {
			t = a + strings.ReplaceAll(m[2], " ", "") + m[3]
		}
	}
	return t
}

func (in *inspector) index(table string, ix *schema.Index) Index {
	out := Index{Name: ix.Name, Unique: ix.Unique}
	for _, p := range ix.Parts {
		var part string
		switch {
		case p.C != nil:
			part = p.C.Name
		case p.X != nil:
			part = "(" + strings.Trim(exprText(p.X), "()") + ")"
		}
		if p.Desc {
			part += " desc"
		}
		out.Parts = append(out.Parts, part)
	}
	for _, a := range ix.Attrs {
		switch a := a.(type) {
		case *sqlite.IndexPredicate:
			out.Where = collapseSpace(a.P)
		case *postgres.IndexPredicate:
			out.Where = collapseSpace(a.P)
		}
	}
	if in.generatedIndexName(table, ix, out.Parts) {
		suffix := "_idx"
		if ix.Unique {
			suffix = "_key"
		}
		out.Name, out.Generated = table+"_"+partsName(out.Parts)+suffix, true
	}
	return out
}

func (in *inspector) generatedIndexName(table string, ix *schema.Index, parts []string) bool {
	switch in.dialect {
	case dialect.SQLite:
		return ix.Name == "" || strings.HasPrefix(ix.Name, "sqlite_autoindex_")
	case dialect.Postgres:
		// The names PostgreSQL gives a UNIQUE constraint (table_cols_key)
		// and an unnamed index (table_cols_idx), with a number appended on
		// a clash.
		base := table + "_" + strings.Join(plainParts(parts), "_")
		return matchesDefault(ix.Name, base+"_key") || matchesDefault(ix.Name, base+"_idx")
	case dialect.MySQL:
		// MySQL names an unnamed key after its first column (col, col_2, ...),
		// and the index it adds for a foreign key after the constraint.
		if len(parts) > 0 && matchesDefault(ix.Name, parts[0]) {
			return true
		}
		return numberedAfter(ix.Name, table+"_ibfk_")
	}
	return false
}

func (in *inspector) foreignKey(table string, fk *schema.ForeignKey) ForeignKey {
	out := ForeignKey{Name: fk.Symbol, OnUpdate: refAction(fk.OnUpdate), OnDelete: refAction(fk.OnDelete)}
	for _, c := range fk.Columns {
		out.Columns = append(out.Columns, c.Name)
	}
	if fk.RefTable != nil {
		out.RefTable = fk.RefTable.Name
	}
	for _, c := range fk.RefColumns {
		out.RefColumns = append(out.RefColumns, c.Name)
	}
	var generated bool
	switch in.dialect {
	case dialect.SQLite:
		// SQLite has no constraint names of its own; atlas numbers them.
		generated = out.Name == "" || strings.Trim(out.Name, "0123456789") == ""
	case dialect.Postgres:
		generated = out.Name == "" || matchesDefault(out.Name, table+"_"+strings.Join(out.Columns, "_")+"_fkey")
	case dialect.MySQL:
		generated = out.Name == "" || numberedAfter(out.Name, table+"_ibfk_")
	}
	if generated {
		out.Name, out.Generated = table+"_"+strings.Join(out.Columns, "_")+"_fkey", true
	}
	return out
}

func (in *inspector) generatedCheckName(t *schema.Table, name string) bool {
	switch in.dialect {
	case dialect.Postgres:
		// table_column_check, table_check, with a number on a clash.
		rest, ok := strings.CutPrefix(name, t.Name+"_")
		return ok && strings.HasSuffix(strings.TrimRight(rest, "0123456789"), "check")
	case dialect.MySQL:
		// MySQL: table_chk_N; MariaDB names a column's CHECK after the column.
		if _, ok := t.Column(name); ok {
			return true
		}
		return numberedAfter(name, t.Name+"_chk_")
	}
	return false
}

// numberedAfter reports whether name is prefix followed by digits only.
func numberedAfter(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && strings.Trim(rest, "0123456789") == ""
}

func refAction(o schema.ReferenceOption) string {
	s := strings.ToUpper(string(o))
	if s == "NO ACTION" {
		return ""
	}
	return s
}

// matchesDefault reports whether name is base, or base followed by a
// number, or a prefix of base (PostgreSQL truncates names to 63 bytes).
func matchesDefault(name, base string) bool {
	if name == base {
		return true
	}
	if rest, ok := strings.CutPrefix(name, base); ok {
		return strings.Trim(strings.TrimPrefix(rest, "_"), "0123456789") == ""
	}
	return len(name) >= 60 && strings.HasPrefix(base, name[:60])
}

// plainParts returns the column names of index parts without " desc";
// PostgreSQL names an expression part "expr".
func plainParts(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		p = strings.TrimSuffix(p, " desc")
		if strings.HasPrefix(p, "(") {
			p = "expr"
		}
		out[i] = p
	}
	return out
}

func partsName(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('_')
		}
		if strings.HasPrefix(p, "(") {
			b.WriteString("expr" + shortHash(p))
			continue
		}
		b.WriteString(strings.ReplaceAll(p, " ", "_"))
	}
	return b.String()
}

// dedupeNames numbers derived names that collide, e.g. two unnamed CHECKs
// with the same expression.
func dedupeNames[T any](xs []T, name func(*T) *string) {
	seen := map[string]int{}
	for i := range xs {
		n := name(&xs[i])
		seen[*n]++
		if c := seen[*n]; c > 1 {
			*n = fmt.Sprintf("%s_%d", *n, c)
		}
	}
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

var reSpace = regexp.MustCompile(`\s+`)

// collapseSpace trims s and replaces each run of white space by one space.
func collapseSpace(s string) string { return strings.TrimSpace(reSpace.ReplaceAllString(s, " ")) }

// cloneTable copies t so that callers may change a snapshot without
// changing the cache.
func cloneTable(t Table) Table {
	c := t
	c.Columns = slices.Clone(t.Columns)
	c.Indexes = slices.Clone(t.Indexes)
	c.ForeignKeys = slices.Clone(t.ForeignKeys)
	c.Checks = slices.Clone(t.Checks)
	if t.PrimaryKey != nil {
		pk := *t.PrimaryKey
		c.PrimaryKey = &pk
	}
	return c
}

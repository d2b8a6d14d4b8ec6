package check

import "github.com/rollsafe/rollsafe/dialect"

// Snapshot is the schema of one database (or PostgreSQL schema) as plain
// data: what the reversibility check compares before and after each
// migration, and what the compatibility analysis reads.
//
// Every slice is sorted by name (columns keep their table order), every name
// and type is normalised (see Column.Type), and names the database generated
// itself are replaced by a name derived from the object's definition, so two
// databases built by the same statements give equal snapshots. goose's version
// table and tables prefixed "rollsafe_" are left out.
type Snapshot struct {
	// Dialect is the database's dialect; JSON holds its name ("sqlite",
	// "postgres" or "mysql").
	Dialect   dialect.Dialect `json:"dialect"`
	Tables    []Table         `json:"tables,omitempty"`
	Views     []View          `json:"views,omitempty"`
	Triggers  []Trigger       `json:"triggers,omitempty"`
	Sequences []Sequence      `json:"sequences,omitempty"` // PostgreSQL only
	Enums     []Enum          `json:"enums,omitempty"`     // PostgreSQL only

	// fingerprint, when set by an inspection, is equal for two snapshots
	// only if the catalog described the same schema; Diff then skips the
	// comparison. A snapshot built by hand has none.
	fingerprint string
}

// Table is one table.
type Table struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"` // in table order
	// PrimaryKey is nil when the table has none.
	PrimaryKey *Index `json:"primary_key,omitempty"`
	// Indexes holds every other index, including those that back UNIQUE
	// constraints (Unique is then true), sorted by name.
	Indexes     []Index           `json:"indexes,omitempty"`
	ForeignKeys []ForeignKey      `json:"foreign_keys,omitempty"`
	Checks      []CheckConstraint `json:"checks,omitempty"`
}

// Column is one column of a table.
type Column struct {
	Name string `json:"name"`
	// Type is the column type as the database reports it, lower-case, with
	// the dialect's aliases folded ("int4" and "integer" both read
	// "integer"), e.g. "varchar(255)", "numeric(10,2)", "text".
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	// Default is the default expression as the database reports it; nil when
	// the column has none.
	Default *string `json:"default,omitempty"`
	// AutoIncrement is true for SQLite/MySQL AUTOINCREMENT/AUTO_INCREMENT and
	// PostgreSQL identity or serial columns.
	AutoIncrement bool `json:"auto_increment,omitempty"`
	// Generated is the expression of a generated (computed) column, or "".
	Generated string `json:"generated,omitempty"`
}

// Index is an index, a primary key or the index behind a UNIQUE constraint.
type Index struct {
	// Name is the index name. When the database generated it (Generated is
	// true), it is replaced by "<table>_<parts>_key" (or "_pkey") so that it
	// never makes two equal schemas differ.
	Name   string `json:"name"`
	Unique bool   `json:"unique,omitempty"`
	// Parts are the indexed columns by name, or an expression in
	// parentheses, each followed by " desc" when descending.
	Parts []string `json:"parts"`
	// Where is the predicate of a partial index, or "".
	Where string `json:"where,omitempty"`
	// Generated is true when the database chose the name itself.
	Generated bool `json:"generated,omitempty"`
}

// ForeignKey is a foreign-key constraint.
type ForeignKey struct {
	// Name is the constraint name; see Index.Name for generated names.
	Name       string   `json:"name"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	// OnUpdate and OnDelete are the referential actions in upper case;
	// "NO ACTION" is written as "".
	OnUpdate  string `json:"on_update,omitempty"`
	OnDelete  string `json:"on_delete,omitempty"`
	Generated bool   `json:"generated,omitempty"`
}

// CheckConstraint is a CHECK constraint of a table.
type CheckConstraint struct {
	// Name is the constraint name; see Index.Name for generated names.
	Name      string `json:"name"`
	Expr      string `json:"expr"`
	Generated bool   `json:"generated,omitempty"`
	// NotValid is true for a PostgreSQL CHECK added NOT VALID and not
	// validated since: rows written before it may break it.
	NotValid bool `json:"not_valid,omitempty"`

	dbName string // the name in the catalog, before normalisation
}

// View is a view.
type View struct {
	Name string `json:"name"`
	// Def is the view's query as the catalog stores it, whitespace folded.
	Def     string   `json:"def"`
	Columns []string `json:"columns,omitempty"`
}

// Trigger is a trigger.
type Trigger struct {
	Name  string `json:"name"`
	Table string `json:"table"`
	// Def is the trigger definition as the catalog stores it, whitespace
	// folded.
	Def string `json:"def"`
}

// Sequence is a PostgreSQL sequence that is not owned by an identity column
// (those belong to the column and are described by Column.AutoIncrement).
type Sequence struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Start     int64  `json:"start"`
	Increment int64  `json:"increment"`
	// OwnedBy is "table.column" for a serial column's sequence, or "".
	OwnedBy string `json:"owned_by,omitempty"`
}

// Enum is a PostgreSQL enum type.
type Enum struct {
	Name   string   `json:"name"`
	Values []string `json:"values"` // in declaration order
}

// Table returns the table named name, or nil.
func (s *Snapshot) Table(name string) *Table {
	return named(s.Tables, name, func(t *Table) string { return t.Name })
}

// View returns the view named name, or nil.
func (s *Snapshot) View(name string) *View {
	return named(s.Views, name, func(v *View) string { return v.Name })
}

// Enum returns the enum named name, or nil.
func (s *Snapshot) Enum(name string) *Enum {
	return named(s.Enums, name, func(e *Enum) string { return e.Name })
}

// Column returns the column named name, or nil.
func (t *Table) Column(name string) *Column {
	return named(t.Columns, name, func(c *Column) string { return c.Name })
}

// Index returns the index named name, or nil.
func (t *Table) Index(name string) *Index {
	return named(t.Indexes, name, func(i *Index) string { return i.Name })
}

// named returns the first item of items whose name is name, or nil.
func named[T any](items []T, name string, nameOf func(*T) string) *T {
	for i := range items {
		if nameOf(&items[i]) == name {
			return &items[i]
		}
	}
	return nil
}

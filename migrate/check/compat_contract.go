package check

import (
	"slices"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
)

// This file finds contract changes: what the migration did to the schema
// (S0 → S1) that the previous release's code may not survive.

// tablePair is a table of S0 and what became of it in S1.
type tablePair struct {
	before, after *Table
	renamed       bool
	// released is the table as the release already running has it (see
	// contract.rel), nil when the upcoming release created it.
	released *Table
	// cols maps each column of after that existed before to its S0 column.
	cols map[string]*Column
	// colNames maps S0 column names to S1 ones (renames applied).
	colNames map[string]string
}

type contract struct {
	in   *stepInput
	b, a *Snapshot
	// rel is the schema of the release already running when it is known
	// (WithSince, for a migration after it); nil means b, the schema
	// before this migration. What rel does not hold was added by the
	// upcoming release itself, so the previous release never uses it.
	rel    *Snapshot
	stmts  []stmt
	out    []Finding
	tables map[string]string // S1 table name → S0 table name, for tables that existed
	// tableRenames and columnRenames are what the statements rename.
	tableRenames, columnRenames []rename
}

func contractFindings(in stepInput, stmts []stmt, rel *Snapshot) []Finding {
	c := &contract{in: &in, b: in.Before, a: in.After, rel: rel, stmts: stmts, tables: map[string]string{}}
	c.tableRenames, c.columnRenames = statementRenames(stmts)
	pairs := c.pairTables()
	for _, p := range pairs {
		if p.released == nil {
			continue // new in the upcoming release: the previous one never uses it
		}
		c.columns(p)
		c.unique(p)
		c.foreignKeys(p)
		c.checks(p)
	}
	c.enums()
	c.views()
	return c.out
}

func (c *contract) add(code Code, format string, args ...any) {
	c.out = append(c.out, c.in.finding(code, SeverityError, format, args...))
}

// pairTables matches every table of S0 with its S1 table: same name,
// renamed by a statement, or renamed as the diff shows (dropped, and a new
// table with the same columns added). It reports dropped and renamed tables.
func (c *contract) pairTables() []*tablePair {
	cur := map[string]string{}
	for _, t := range c.b.Tables {
		cur[t.Name] = t.Name
	}
	for _, r := range c.tableRenames {
		for k, v := range cur {
			if strings.EqualFold(v, r.old) {
				cur[k] = r.new
			}
		}
	}
	var pairs []*tablePair
	var dropped []*Table
	for i := range c.b.Tables {
		bt := &c.b.Tables[i]
		if at := findTable(c.a, bt.Name); at != nil {
			pairs = append(pairs, &tablePair{before: bt, after: at})
			continue
		}
		if at := findTable(c.a, cur[bt.Name]); at != nil && findTable(c.b, at.Name) == nil {
			pairs = append(pairs, &tablePair{before: bt, after: at, renamed: true})
			if c.releasedTable(bt) != nil {
				c.add(CodeTableRenamed, "renames table %s to %s; the previous release still uses %s", bt.Name, at.Name, bt.Name)
			}
			continue
		}
		dropped = append(dropped, bt)
	}
	taken := map[string]bool{}
	for _, p := range pairs {
		taken[p.after.Name] = true
	}
	for _, bt := range dropped {
		if at := c.sameShapeTable(bt, taken); at != nil {
			taken[at.Name] = true
			pairs = append(pairs, &tablePair{before: bt, after: at, renamed: true})
			if c.releasedTable(bt) != nil {
				c.add(CodeTableRenamed, "renames table %s to %s (the diff drops %s and adds %s with the same columns); the previous release still uses %s", bt.Name, at.Name, bt.Name, at.Name, bt.Name)
			}
			continue
		}
		if c.releasedTable(bt) != nil {
			c.add(CodeTableDropped, "drops table %s; the previous release may still read or write it", bt.Name)
		}
	}
	for _, p := range pairs {
		c.tables[p.after.Name] = p.before.Name
		p.released = c.releasedTable(p.before)
	}
	return pairs
}

// releasedTable returns bt (a table of S0) as the release already running
// has it, or nil when the upcoming release created it.
func (c *contract) releasedTable(bt *Table) *Table {
	if c.rel == nil {
		return bt
	}
	return findTable(c.rel, bt.Name)
}

// known reports whether the previous release knows column name of the
// after table: it existed before this migration and, when the released
// schema is known, in the released table too.
func (p *tablePair) known(name string) bool {
	bc := p.cols[name]
	return bc != nil && findColumn(p.released, bc.Name) != nil
}

// sameShapeTable returns the one new table of S1 whose columns (names and
// types) are those of bt, or nil.
func (c *contract) sameShapeTable(bt *Table, taken map[string]bool) *Table {
	var found *Table
	for i := range c.a.Tables {
		at := &c.a.Tables[i]
		if taken[at.Name] || findTable(c.b, at.Name) != nil || !sameColumns(bt, at) {
			continue
		}
		if found != nil {
			return nil // ambiguous
		}
		found = at
	}
	return found
}

func sameColumns(x, y *Table) bool {
	if len(x.Columns) != len(y.Columns) {
		return false
	}
	for _, col := range x.Columns {
		o := y.Column(col.Name)
		if o == nil || o.Type != col.Type {
			return false
		}
	}
	return true
}

// columns reports dropped, renamed and changed columns and NOT NULL columns
// added without a default.
func (c *contract) columns(p *tablePair) {
	cur := map[string]string{}
	for _, col := range p.before.Columns {
		cur[col.Name] = col.Name
	}
	for _, r := range c.columnRenames {
		if !strings.EqualFold(r.table, p.before.Name) && !strings.EqualFold(r.table, p.after.Name) {
			continue
		}
		for k, v := range cur {
			if strings.EqualFold(v, r.old) {
				cur[k] = r.new
			}
		}
	}
	p.cols, p.colNames = map[string]*Column{}, map[string]string{}
	var dropped []*Column
	for i := range p.before.Columns {
		bc := &p.before.Columns[i]
		if ac := p.after.Column(bc.Name); ac != nil {
			p.cols[ac.Name], p.colNames[bc.Name] = bc, ac.Name
			continue
		}
		if ac := findColumn(p.after, cur[bc.Name]); ac != nil && p.before.Column(ac.Name) == nil {
			p.cols[ac.Name], p.colNames[bc.Name] = bc, ac.Name
			if p.known(ac.Name) {
				c.add(CodeColumnRenamed, "renames column %s.%s to %s; the previous release still uses %s", p.after.Name, bc.Name, ac.Name, bc.Name)
			}
			continue
		}
		dropped = append(dropped, bc)
	}
	var added []*Column
	for i := range p.after.Columns {
		ac := &p.after.Columns[i]
		if p.cols[ac.Name] == nil {
			added = append(added, ac)
		}
	}
	// One column gone and one of the same type and nullability come: a
	// rename done the long way (e.g. SQLite's table rebuild).
	if len(dropped) == 1 && len(added) == 1 && dropped[0].Type == added[0].Type && dropped[0].Nullable == added[0].Nullable {
		bc, ac := dropped[0], added[0]
		p.cols[ac.Name], p.colNames[bc.Name] = bc, ac.Name
		if p.known(ac.Name) {
			c.add(CodeColumnRenamed, "renames column %s.%s to %s (the diff drops %s and adds %s of the same type); the previous release still uses %s", p.after.Name, bc.Name, ac.Name, bc.Name, ac.Name, bc.Name)
		}
		dropped, added = nil, nil
	}
	for _, bc := range dropped {
		if findColumn(p.released, bc.Name) != nil {
			c.add(CodeColumnDropped, "drops column %s.%s; the previous release may still read or write it", p.after.Name, bc.Name)
		}
	}
	for _, ac := range added {
		if !ac.Nullable && !hasDefault(ac) && !ac.AutoIncrement && ac.Generated == "" {
			c.add(CodeNotNullColumnAdded, "adds column %s.%s NOT NULL without a default; the previous release's INSERTs leave it out and fail", p.after.Name, ac.Name)
		}
	}
	for i := range p.after.Columns {
		ac := &p.after.Columns[i]
		if bc := p.cols[ac.Name]; bc != nil {
			c.column(p, bc, ac)
		}
	}
}

// column compares one column that exists before and after.
func (c *contract) column(p *tablePair, bc, ac *Column) {
	name := p.after.Name + "." + ac.Name
	known := p.known(ac.Name)
	bt, at := readType(c.b, bc.Type), readType(c.a, ac.Type)
	if !known {
		// Added by the upcoming release: the previous release never names
		// it, so only what its INSERTs leave out can break it.
	} else if bc.Type == ac.Type && c.b.Enum(bc.Type) != nil {
		// a PostgreSQL enum type: enums() compares its values once
	} else if (bt.kind == kindEnum || bt.kind == kindSet) && bt.kind == at.kind && len(bt.values) > 0 {
		var released []string
		if c.rel != nil {
			released = readType(c.rel, findColumn(p.released, bc.Name).Type).values
		}
		c.enumValues("column "+name, bt.values, at.values, released, nil)
	} else {
		switch compareTypes(bt, at) {
		case typeNarrowed:
			c.add(CodeColumnTypeNarrowed, "narrows column %s from %s to %s; old values or the previous release's writes may not fit", name, bc.Type, ac.Type)
		case typeChanged:
			c.add(CodeColumnTypeChanged, "changes column %s from %s to %s (another kind of type); the previous release reads and writes it as %s", name, bc.Type, ac.Type, bc.Type)
		}
	}
	if bc.Nullable && !ac.Nullable && (known || !hasDefault(ac)) {
		c.add(CodeColumnNotNull, "makes column %s NOT NULL; the previous release may write NULL into it or leave it out", name)
	}
	if hasDefault(bc) && !hasDefault(ac) && !ac.Nullable && !ac.AutoIncrement && ac.Generated == "" {
		c.add(CodeColumnDefaultDropped, "drops the default of NOT NULL column %s; the previous release's INSERTs that leave it out fail", name)
	}
}

func hasDefault(col *Column) bool {
	return col.Default != nil && !strings.EqualFold(strings.TrimSpace(*col.Default), "null")
}

// oldWrites reports whether the previous release's INSERTs put a value that
// may collide or dangle into column name of the after table: it existed, or
// it is new with a default that every old INSERT gets.
func (p *tablePair) oldWrites(name string) bool {
	if p.known(name) {
		return true
	}
	col := p.after.Column(name)
	return col != nil && (hasDefault(col) || !col.Nullable && !col.AutoIncrement)
}

// partColumns returns the columns an index part or expression mentions.
func partColumns(t *Table, d dialect.Dialect, part string) []string {
	part = strings.TrimSuffix(part, " desc")
	if col := findColumn(t, part); col != nil {
		return []string{col.Name}
	}
	var out []string
	lx := lexer{src: part, dialect: d}
	for {
		tok, ok := lx.next()
		if !ok {
			return out
		}
		if tok.kind == tokWord || tok.kind == tokIdent {
			if col := findColumn(t, tok.name()); col != nil && !slices.Contains(out, col.Name) {
				out = append(out, col.Name)
			}
		}
	}
}

// unique reports UNIQUE indexes and primary keys of S1 over columns that
// old code writes, unless a unique key of S0 already implied them.
func (c *contract) unique(p *tablePair) {
	for _, ix := range uniqueKeys(p.after) {
		if c.impliedUnique(p, ix) {
			continue
		}
		old := false
		var cols []string
		for _, part := range ix.Parts {
			for _, col := range partColumns(p.after, c.a.Dialect, part) {
				cols = append(cols, col)
				old = old || p.oldWrites(col)
			}
		}
		if !old {
			continue
		}
		what := "a UNIQUE index " + ix.Name
		if p.after.PrimaryKey != nil && ix.Name == p.after.PrimaryKey.Name && slices.Equal(ix.Parts, p.after.PrimaryKey.Parts) {
			what = "a primary key"
		}
		c.add(CodeUniqueAdded, "adds %s on %s(%s); the previous release may write duplicates and fail", what, p.after.Name, strings.Join(cols, ", "))
	}
}

// uniqueKeys returns t's primary key, if any, and its UNIQUE indexes.
func uniqueKeys(t *Table) []Index {
	var keys []Index
	if t.PrimaryKey != nil {
		keys = append(keys, *t.PrimaryKey)
	}
	for _, ix := range t.Indexes {
		if ix.Unique {
			keys = append(keys, ix)
		}
	}
	return keys
}

// impliedUnique reports whether a unique key of S0 (mapped through column
// renames) already made ix's rows unique: its parts are a subset of ix's.
func (c *contract) impliedUnique(p *tablePair, ix Index) bool {
	for _, o := range uniqueKeys(p.before) {
		if o.Where != "" && o.Where != ix.Where {
			continue
		}
		all := true
		for _, part := range o.Parts {
			if !slices.Contains(ix.Parts, p.mapPart(part)) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// mapPart renames an S0 index part to its S1 column name.
func (p *tablePair) mapPart(part string) string {
	name, desc := strings.CutSuffix(part, " desc")
	if n, ok := p.colNames[name]; ok {
		name = n
	}
	if desc {
		return name + " desc"
	}
	return name
}

// foreignKeys reports foreign keys of S1 over columns old code writes that
// S0 did not have.
func (c *contract) foreignKeys(p *tablePair) {
	for _, fk := range p.after.ForeignKeys {
		if c.hadForeignKey(p, fk) {
			continue
		}
		old := false
		for _, col := range fk.Columns {
			old = old || p.oldWrites(col)
		}
		if old {
			c.add(CodeForeignKeyAdded, "adds foreign key %s on %s(%s) referencing %s; the previous release may write rows it rejects", fk.Name, p.after.Name, strings.Join(fk.Columns, ", "), fk.RefTable)
		}
	}
}

func (c *contract) hadForeignKey(p *tablePair, fk ForeignKey) bool {
	ref := fk.RefTable
	if old, ok := c.tables[ref]; ok {
		ref = old
	}
	for _, o := range p.before.ForeignKeys {
		if !strings.EqualFold(o.RefTable, ref) || len(o.Columns) != len(fk.Columns) {
			continue
		}
		same := true
		for i, col := range o.Columns {
			if p.mapPart(col) != fk.Columns[i] {
				same = false
			}
		}
		if same {
			return true
		}
	}
	return false
}

// checks reports CHECK constraints of S1 over columns old code writes that
// S0 did not have.
func (c *contract) checks(p *tablePair) {
	for _, ck := range p.after.Checks {
		if slices.ContainsFunc(p.before.Checks, func(o CheckConstraint) bool { return foldSpace(o.Expr) == foldSpace(ck.Expr) }) {
			continue
		}
		var olds []string
		for _, col := range partColumns(p.after, c.a.Dialect, ck.Expr) {
			if p.known(col) {
				olds = append(olds, col)
			}
		}
		if len(olds) > 0 {
			c.add(CodeCheckAdded, "adds CHECK %s on %s (%s); the previous release may write rows it rejects", ck.Name, p.after.Name, ck.Expr)
		}
	}
}

func foldSpace(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// enums reports values removed from or renamed in PostgreSQL enum types.
func (c *contract) enums() {
	renames := enumRenames(c.stmts)
	for _, be := range c.b.Enums {
		ae := c.a.Enum(be.Name)
		if ae == nil {
			continue // the columns that used it changed type or went away
		}
		var released []string
		if c.rel != nil {
			re := c.rel.Enum(be.Name)
			if re == nil {
				continue // new in the upcoming release
			}
			released = re.Values
		}
		var ren []rename
		for _, r := range renames {
			if strings.EqualFold(r.table, be.Name) {
				ren = append(ren, r)
			}
		}
		c.enumValues("enum type "+be.Name, be.Values, ae.Values, released, ren)
	}
}

// enumValues reports the values of before missing from after, unless the
// released values (nil when unknown) lack them too: renamed when a
// statement renamed them, or when the lists have the same length and differ
// at that position only; removed otherwise.
func (c *contract) enumValues(what string, before, after, released []string, ren []rename) {
	for i, v := range before {
		if slices.Contains(after, v) {
			continue
		}
		if released != nil && !slices.Contains(released, v) {
			continue // added by the upcoming release: the previous one never writes it
		}
		to := ""
		for _, r := range ren {
			if r.old == v && slices.Contains(after, r.new) {
				to = r.new
			}
		}
		if to == "" && len(before) == len(after) && !slices.Contains(before, after[i]) {
			to = after[i]
		}
		if to != "" {
			c.add(CodeEnumValueRenamed, "renames value %q of %s to %q; the previous release still writes %q", v, what, to, v)
			continue
		}
		c.add(CodeEnumValueRemoved, "removes value %q from %s; the previous release may still write it, and rows may hold it", v, what)
	}
}

// views reports dropped views and views whose columns of S0 (or of the
// released schema, when known) are no longer the first columns of S1, in
// order.
func (c *contract) views() {
	for _, bv := range c.b.Views {
		old := bv.Columns
		if c.rel != nil {
			rv := c.rel.View(bv.Name)
			if rv == nil {
				continue // new in the upcoming release
			}
			old = rv.Columns
		}
		av := c.a.View(bv.Name)
		if av == nil {
			c.add(CodeViewDropped, "drops view %s; the previous release may still read it", bv.Name)
			continue
		}
		if slices.Equal(av.Columns, bv.Columns) {
			continue // an earlier migration changed it, and was reported
		}
		if len(av.Columns) < len(old) || !slices.Equal(av.Columns[:len(old)], old) {
			c.add(CodeViewChanged, "changes the columns of view %s from (%s) to (%s); the previous release reads the old ones", bv.Name, strings.Join(old, ", "), strings.Join(av.Columns, ", "))
		}
	}
}

// findTable looks a table up by name, exactly and then ignoring case
// (unquoted names in statements are read in lower case).
func findTable(s *Snapshot, name string) *Table {
	return namedFold(s.Tables, name, func(t *Table) string { return t.Name })
}

// findColumn looks a column up by name, exactly and then ignoring case.
func findColumn(t *Table, name string) *Column {
	return namedFold(t.Columns, name, func(c *Column) string { return c.Name })
}

// namedFold returns the item of items named name, or else the first whose
// name equals it ignoring case; nil for no match and for an empty name.
func namedFold[T any](items []T, name string, nameOf func(*T) string) *T {
	if name == "" {
		return nil
	}
	if it := named(items, name, nameOf); it != nil {
		return it
	}
	for i := range items {
		if strings.EqualFold(nameOf(&items[i]), name) {
			return &items[i]
		}
	}
	return nil
}

package check

import (
	"fmt"
	"slices"
	"strings"
)

// Op says what happened to an object between two snapshots.
type Op string

// The operations of a Change.
const (
	Added     Op = "added"
	Removed   Op = "removed"
	Changed   Op = "changed"
	Reordered Op = "reordered" // a table's columns, same set in another order
)

// Kind is the kind of schema object a Change names. Its JSON form is the
// string.
type Kind string

// The kinds of object a Change names.
const (
	KindTable      Kind = "table"
	KindColumn     Kind = "column"
	KindPrimaryKey Kind = "primary key"
	KindIndex      Kind = "index"
	KindForeignKey Kind = "foreign key"
	KindCheck      Kind = "check"
	KindView       Kind = "view"
	KindTrigger    Kind = "trigger"
	KindSequence   Kind = "sequence"
	KindEnum       Kind = "enum"
)

// Change is one difference between two snapshots, from the first ("before")
// to the second ("after").
type Change struct {
	Op   Op   `json:"op"`
	Kind Kind `json:"kind"`
	// Table is the table a column, index, key, check or trigger belongs
	// to; "" for tables, views, sequences and enums.
	Table string `json:"table,omitempty"`
	Name  string `json:"name"`
	// Before and After are the object's canonical text (as in
	// Snapshot.String); "" where the object does not exist.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Path is "kind table.name", or "kind name" for objects without a table.
func (c Change) Path() string {
	if c.Table != "" {
		return string(c.Kind) + " " + c.Table + "." + c.Name
	}
	return string(c.Kind) + " " + c.Name
}

// String describes the change in one line, e.g.
// "index orders.orders_by_user: added" or
// "column users.email: changed from `email text null` to `email text not null`".
func (c Change) String() string {
	switch c.Op {
	case Changed, Reordered:
		return fmt.Sprintf("%s: %s from `%s` to `%s`", c.Path(), c.Op, c.Before, c.After)
	}
	return fmt.Sprintf("%s: %s", c.Path(), c.Op)
}

// Diff returns the changes that turn before into after, in a stable order:
// by kind of object, then table, then name.
func Diff(before, after *Snapshot) []Change {
	if before.fingerprint != "" && before.fingerprint == after.fingerprint {
		return nil
	}
	var d differ
	d.tables(before.Tables, after.Tables)
	diffNamed(&d, KindView, "", before.Views, after.Views, func(v View) string { return v.Name }, viewText)
	diffNamed(&d, KindTrigger, "", before.Triggers, after.Triggers, func(t Trigger) string { return t.Name }, triggerText)
	diffNamed(&d, KindSequence, "", before.Sequences, after.Sequences, func(s Sequence) string { return s.Name }, sequenceText)
	diffNamed(&d, KindEnum, "", before.Enums, after.Enums, func(e Enum) string { return e.Name }, enumText)
	return d.out
}

// DescribeDiff renders changes one per line, with verb naming what a
// migration step did: for "down", an added object reads "left behind by
// down" and a removed one "not restored by down".
func DescribeDiff(changes []Change, step string) string {
	var b strings.Builder
	for _, c := range changes {
		switch c.Op {
		case Added:
			fmt.Fprintf(&b, "%s: left behind by %s\n", c.Path(), step)
		case Removed:
			fmt.Fprintf(&b, "%s: not restored by %s\n", c.Path(), step)
		case Reordered:
			fmt.Fprintf(&b, "%s: column order differs: was (%s), now (%s)\n", c.Path(), c.Before, c.After)
		default:
			fmt.Fprintf(&b, "%s: was `%s`, now `%s`\n", c.Path(), c.Before, c.After)
		}
	}
	return b.String()
}

type differ struct{ out []Change }

func (d *differ) add(c Change) { d.out = append(d.out, c) }

func (d *differ) tables(before, after []Table) {
	bm := indexBy(before, func(t Table) string { return t.Name })
	am := indexBy(after, func(t Table) string { return t.Name })
	for _, name := range unionKeys(bm, am) {
		b, inB := bm[name]
		a, inA := am[name]
		switch {
		case !inA:
			d.add(Change{Op: Removed, Kind: KindTable, Name: name, Before: "table " + name})
		case !inB:
			d.add(Change{Op: Added, Kind: KindTable, Name: name, After: "table " + name})
		default:
			d.table(b, a)
		}
	}
}

func (d *differ) table(b, a Table) {
	t := b.Name
	diffNamed(d, KindColumn, t, b.Columns, a.Columns, func(c Column) string { return c.Name }, columnText)
	if !slices.Equal(columnNames(b.Columns), columnNames(a.Columns)) && sameSet(columnNames(b.Columns), columnNames(a.Columns)) {
		d.add(Change{Op: Reordered, Kind: KindTable, Name: t,
			Before: strings.Join(columnNames(b.Columns), ", "), After: strings.Join(columnNames(a.Columns), ", ")})
	}
	var bpk, apk []Index
	if b.PrimaryKey != nil {
		bpk = []Index{*b.PrimaryKey}
	}
	if a.PrimaryKey != nil {
		apk = []Index{*a.PrimaryKey}
	}
	pkName := func(Index) string { return "primary key" }
	diffNamedAs(d, KindPrimaryKey, t, bpk, apk, pkName, indexText, func(Index) string { return t + "_pkey" })
	diffNamed(d, KindIndex, t, b.Indexes, a.Indexes, func(i Index) string { return i.Name }, indexText)
	diffNamed(d, KindForeignKey, t, b.ForeignKeys, a.ForeignKeys, func(f ForeignKey) string { return f.Name }, foreignKeyText)
	diffNamed(d, KindCheck, t, b.Checks, a.Checks, func(c CheckConstraint) string { return c.Name }, checkText)
}

func diffNamed[T any](d *differ, kind Kind, table string, before, after []T, name func(T) string, text func(T) string) {
	diffNamedAs(d, kind, table, before, after, name, text, name)
}

// diffNamedAs matches objects by key and reports them under display.
func diffNamedAs[T any](d *differ, kind Kind, table string, before, after []T, key, text, display func(T) string) {
	bm := indexBy(before, key)
	am := indexBy(after, key)
	for _, k := range unionKeys(bm, am) {
		b, inB := bm[k]
		a, inA := am[k]
		switch {
		case !inA:
			d.add(Change{Op: Removed, Kind: kind, Table: table, Name: display(b), Before: text(b)})
		case !inB:
			d.add(Change{Op: Added, Kind: kind, Table: table, Name: display(a), After: text(a)})
		case text(b) != text(a):
			d.add(Change{Op: Changed, Kind: kind, Table: table, Name: display(a), Before: text(b), After: text(a)})
		}
	}
}

func indexBy[T any](xs []T, key func(T) string) map[string]T {
	m := make(map[string]T, len(xs))
	for _, x := range xs {
		m[key(x)] = x
	}
	return m
}

func unionKeys[T any](a, b map[string]T) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func columnNames(cs []Column) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

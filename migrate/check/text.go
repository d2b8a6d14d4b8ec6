package check

import (
	"fmt"
	"strings"
)

// String returns the snapshot's canonical text: one object per line, sorted,
// indented under its table, and the same for equal schemas — fit for golden
// files and for reading in a diff.
func (s *Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dialect %s\n", s.Dialect)
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "table %s\n", t.Name)
		writeLines(&b, "  column ", t.Columns, columnText)
		if t.PrimaryKey != nil {
			writeLines(&b, "  primary key ", []Index{*t.PrimaryKey}, indexText)
		}
		writeLines(&b, "  index ", t.Indexes, indexText)
		writeLines(&b, "  foreign key ", t.ForeignKeys, foreignKeyText)
		writeLines(&b, "  check ", t.Checks, checkText)
	}
	writeLines(&b, "view ", s.Views, viewText)
	writeLines(&b, "trigger ", s.Triggers, triggerText)
	writeLines(&b, "sequence ", s.Sequences, sequenceText)
	writeLines(&b, "enum ", s.Enums, enumText)
	return b.String()
}

// writeLines writes one line per item: prefix, then the item's text.
func writeLines[T any](b *strings.Builder, prefix string, items []T, text func(T) string) {
	for _, it := range items {
		b.WriteString(prefix)
		b.WriteString(text(it))
		b.WriteByte('\n')
	}
}

func columnText(c Column) string {
	var b strings.Builder
	b.WriteString(c.Name + " " + c.Type)
	if c.Nullable {
		b.WriteString(" null")
	} else {
		b.WriteString(" not null")
	}
	if c.Default != nil {
		b.WriteString(" default " + *c.Default)
	}
	if c.AutoIncrement {
		b.WriteString(" auto_increment")
	}
	if c.Generated != "" {
		b.WriteString(" generated as " + c.Generated)
	}
	return b.String()
}

func indexText(i Index) string {
	var b strings.Builder
	b.WriteString(i.Name)
	if i.Unique {
		b.WriteString(" unique")
	}
	b.WriteString(" (" + strings.Join(i.Parts, ", ") + ")")
	if i.Where != "" {
		b.WriteString(" where " + i.Where)
	}
	return b.String()
}

func foreignKeyText(f ForeignKey) string {
	s := fmt.Sprintf("%s (%s) references %s (%s)", f.Name, strings.Join(f.Columns, ", "), f.RefTable, strings.Join(f.RefColumns, ", "))
	if f.OnUpdate != "" {
		s += " on update " + strings.ToLower(f.OnUpdate)
	}
	if f.OnDelete != "" {
		s += " on delete " + strings.ToLower(f.OnDelete)
	}
	return s
}

func checkText(c CheckConstraint) string {
	if c.NotValid {
		return c.Name + " (" + c.Expr + ") not valid"
	}
	return c.Name + " (" + c.Expr + ")"
}

func viewText(v View) string {
	return fmt.Sprintf("%s (%s) as %s", v.Name, strings.Join(v.Columns, ", "), v.Def)
}

func triggerText(t Trigger) string { return t.Name + " on " + t.Table + ": " + t.Def }

func sequenceText(q Sequence) string {
	s := fmt.Sprintf("%s %s start %d increment %d", q.Name, q.Type, q.Start, q.Increment)
	if q.OwnedBy != "" {
		s += " owned by " + q.OwnedBy
	}
	return s
}

func enumText(e Enum) string {
	quoted := make([]string, len(e.Values))
	for i, v := range e.Values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return e.Name + " (" + strings.Join(quoted, ", ") + ")"
}

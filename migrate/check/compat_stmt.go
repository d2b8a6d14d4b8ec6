package check

import "strings"

// This file reads the few statement shapes the rules need: ALTER TABLE with
// its comma-separated actions, CREATE/DROP INDEX, and renames.

// readName reads a possibly qualified name ("s.t", "\"T\"") at toks[i] and
// returns its last part and the index after it; ok is false when toks[i] is
// not a name.
func readName(toks []token, i int) (name string, next int, ok bool) {
	for {
		if i >= len(toks) || toks[i].kind != tokWord && toks[i].kind != tokIdent {
			return name, i, name != ""
		}
		name = toks[i].name()
		i++
		if i+1 < len(toks) && toks[i].punct('.') {
			i++
			continue
		}
		return name, i, true
	}
}

// skipWords advances i past each of the keywords kws that appear there in
// order, e.g. skipWords(toks, i, "IF", "NOT", "EXISTS").
func skipWords(toks []token, i int, kws ...string) int {
	j := i
	for _, kw := range kws {
		if j >= len(toks) || !toks[j].is(kw) {
			return i
		}
		j++
	}
	return j
}

// alterTable is an ALTER TABLE statement.
type alterTable struct {
	table   string
	actions [][]token // split at top-level commas
}

// readAlterTable reads "ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] [ONLY] name [*] actions".
func readAlterTable(s stmt) (alterTable, bool) {
	t := s.toks
	i := 0
	if len(t) < 3 || !t[0].is("ALTER") {
		return alterTable{}, false
	}
	i = 1
	for i < len(t) && (t[i].is("ONLINE") || t[i].is("IGNORE")) {
		i++
	}
	if i >= len(t) || !t[i].is("TABLE") {
		return alterTable{}, false
	}
	i = skipWords(t, i+1, "IF", "EXISTS")
	i = skipWords(t, i, "ONLY")
	name, i, ok := readName(t, i)
	if !ok {
		return alterTable{}, false
	}
	if i < len(t) && t[i].punct('*') {
		i++
	}
	return alterTable{table: name, actions: splitTop(t[i:])}, true
}

// splitTop splits toks at commas outside parentheses.
func splitTop(toks []token) [][]token {
	var out [][]token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		case t.punct(',') && depth == 0:
			if i > start {
				out = append(out, toks[start:i])
			}
			start = i + 1
		}
	}
	if start < len(toks) {
		out = append(out, toks[start:])
	}
	return out
}

// hasWord reports whether toks holds the keyword kw outside parentheses.
func hasWord(toks []token, kw string) bool { return indexWord(toks, kw) >= 0 }

// indexWord returns the index of the keyword kw outside parentheses, or -1.
func indexWord(toks []token, kw string) int {
	depth := 0
	for i, t := range toks {
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		case depth == 0 && t.is(kw):
			return i
		}
	}
	return -1
}

// hasSeq reports whether the keywords kws appear in toks one after the other.
func hasSeq(toks []token, kws ...string) bool {
	for i := range toks {
		if skipWords(toks, i, kws...) > i {
			return true
		}
	}
	return false
}

// columnAction is the column an ALTER TABLE action names, for ALTER
// [COLUMN] c …, MODIFY [COLUMN] c …, CHANGE [COLUMN] a b …, ADD [COLUMN] c
// …; kw is ALTER, MODIFY, CHANGE or ADD. For CHANGE, col is the new name
// and old the old one.
type columnAction struct {
	kw, col, old string
	rest         []token // after the column name(s)
}

// readColumnAction reads a column action; ok is false for other actions
// (ADD CONSTRAINT, DROP …, table options).
func readColumnAction(a []token) (columnAction, bool) {
	if len(a) < 2 {
		return columnAction{}, false
	}
	kw := strings.ToUpper(a[0].text)
	if a[0].kind != tokWord || kw != "ALTER" && kw != "MODIFY" && kw != "CHANGE" && kw != "ADD" {
		return columnAction{}, false
	}
	i := 1
	if a[i].is("COLUMN") {
		i++
	} else if kw == "ADD" {
		for _, c := range []string{"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "INDEX", "KEY", "FULLTEXT", "SPATIAL", "PARTITION", "EXCLUDE", "PERIOD", "SYSTEM"} {
			if a[i].is(c) {
				return columnAction{}, false
			}
		}
		if a[i].punct('(') { // MySQL ADD (c1 t1, c2 t2)
			return columnAction{}, false
		}
	}
	i = skipWords(a, i, "IF", "NOT", "EXISTS")
	i = skipWords(a, i, "IF", "EXISTS")
	name, i, ok := readName(a, i)
	if !ok {
		return columnAction{}, false
	}
	ca := columnAction{kw: kw, col: name}
	if kw == "CHANGE" {
		newName, j, ok := readName(a, i)
		if !ok {
			return columnAction{}, false
		}
		ca.old, ca.col, i = name, newName, j
	}
	ca.rest = a[i:]
	return ca, true
}

// rename is a table or column rename read from a statement.
type rename struct {
	table    string // the table (for a column rename), as the statement names it
	old, new string
}

// statementRenames returns the table renames and column renames the
// statements make, in order.
func statementRenames(stmts []stmt) (tables, columns []rename) {
	for _, s := range stmts {
		t := s.toks
		if len(t) > 2 && t[0].is("RENAME") && t[1].is("TABLE") { // MySQL: RENAME TABLE a TO b, c TO d
			for _, part := range splitTop(t[2:]) {
				old, i, ok := readName(part, 0)
				if !ok || i >= len(part) || !part[i].is("TO") {
					continue
				}
				if nw, _, ok := readName(part, i+1); ok {
					tables = append(tables, rename{old: old, new: nw})
				}
			}
			continue
		}
		at, ok := readAlterTable(s)
		if !ok {
			continue
		}
		for _, a := range at.actions {
			if len(a) >= 2 && a[0].is("RENAME") {
				i := 1
				switch {
				case a[1].is("TO") || a[1].is("AS"):
					if nw, _, ok := readName(a, 2); ok {
						tables = append(tables, rename{old: at.table, new: nw})
					}
					continue
				case a[1].is("CONSTRAINT") || a[1].is("INDEX") || a[1].is("KEY"):
					continue
				case a[1].is("COLUMN"):
					i = 2
				}
				old, j, ok := readName(a, i)
				if !ok {
					continue
				}
				if j < len(a) && a[j].is("TO") {
					if nw, _, ok := readName(a, j+1); ok {
						columns = append(columns, rename{table: at.table, old: old, new: nw})
					}
				} else if i == 1 && j == len(a) { // MySQL: ALTER TABLE a RENAME b
					tables = append(tables, rename{old: at.table, new: old})
				}
				continue
			}
			if ca, ok := readColumnAction(a); ok && ca.kw == "CHANGE" && ca.old != ca.col {
				columns = append(columns, rename{table: at.table, old: ca.old, new: ca.col})
			}
		}
	}
	return tables, columns
}

// enumRenames returns the PostgreSQL "ALTER TYPE e RENAME VALUE 'a' TO 'b'"
// statements as renames of table e.
func enumRenames(stmts []stmt) []rename {
	var out []rename
	for _, s := range stmts {
		t := s.toks
		if len(t) < 4 || !t[0].is("ALTER") || !t[1].is("TYPE") {
			continue
		}
		name, i, ok := readName(t, 2)
		if !ok || i+4 >= len(t) || !t[i].is("RENAME") || !t[i+1].is("VALUE") || t[i+2].kind != tokString || !t[i+3].is("TO") || t[i+4].kind != tokString {
			continue
		}
		out = append(out, rename{table: name, old: t[i+2].text, new: t[i+4].text})
	}
	return out
}

// head returns the first words of a statement for a message.
func (s stmt) head() string {
	const max = 80
	if len(s.text) <= max {
		return s.text
	}
	cut := strings.LastIndexByte(s.text[:max], ' ')
	if cut < 40 {
		cut = max
	}
	return s.text[:cut] + " …"
}

package check

import (
	"slices"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
)

// This file holds the online-safety rules: statements that are compatible
// but block a busy table for longer than a lock wait. They read the
// statement text, because the diff cannot tell how a change was made.

func onlineFindings(in stepInput, stmts []stmt, opts compatOptions) []Finding {
	o := online{in: &in, opts: opts, lockTimeoutName: "lock_timeout"}
	if in.Dialect == dialect.MySQL {
		o.lockTimeoutName = "lock_wait_timeout"
	}
	switch in.Dialect {
	case dialect.Postgres:
		for _, s := range stmts {
			o.postgres(s)
		}
	case dialect.MySQL:
		for _, s := range stmts {
			o.mysql(s)
		}
	default:
		return nil // SQLite locks the whole database for any write; nothing is online
	}
	if opts.Timeouts && o.locks != "" {
		var missing []string
		if o.noLockTimeout {
			missing = append(missing, o.lockTimeoutName)
		}
		if in.Dialect == dialect.Postgres && o.noStmtTimeout {
			missing = append(missing, "statement_timeout")
		}
		if len(missing) > 0 {
			o.warn(CodeTimeoutMissing, "locks table %s without setting %s first; behind a long query it waits unbounded and every query on the table queues behind it", o.locks, strings.Join(missing, " and "))
		}
	}
	return o.out
}

type online struct {
	in   *stepInput
	opts compatOptions
	out  []Finding
	// locks is the first existing table a statement locks; "" when none.
	locks                          string
	lockTimeoutSet, stmtTimeoutSet bool // a SET statement ran so far
	noLockTimeout, noStmtTimeout   bool // not set before the first lock
	lockTimeoutName                string
	fkChecksOff                    bool // MySQL: SET foreign_key_checks = 0 ran
}

func (o *online) warn(code Code, format string, args ...any) {
	o.out = append(o.out, o.in.finding(code, SeverityWarning, format, args...))
}

// lock records that the current statement locks the existing table t,
// and which timeouts were set before it.
func (o *online) lock(t string) {
	if o.locks != "" {
		return
	}
	o.locks = t
	o.noLockTimeout, o.noStmtTimeout = !o.lockTimeoutSet, !o.stmtTimeoutSet
}

// setting reads "SET [SESSION|LOCAL|GLOBAL] name {=|TO} value" and returns
// name and value in lower case.
func setting(t []token) (name, value string, ok bool) {
	if len(t) < 3 || !t[0].is("SET") {
		return "", "", false
	}
	i := 1
	if t[i].is("SESSION") || t[i].is("LOCAL") || t[i].is("GLOBAL") {
		i++
	}
	if i+2 >= len(t)+1 || i >= len(t) {
		return "", "", false
	}
	name = strings.TrimPrefix(strings.ToLower(t[i].text), "@@")
	i++
	if i < len(t) && (t[i].punct('=') || t[i].is("TO")) {
		i++
	}
	if i < len(t) {
		value = strings.ToLower(t[i].text)
	}
	return name, value, true
}

func (o *online) existing(table string) bool { return findTable(o.in.Before, table) != nil }

// postgres applies the PostgreSQL rules to one statement.
func (o *online) postgres(s stmt) {
	t := s.toks
	if name, _, ok := setting(t); ok {
		switch name {
		case "lock_timeout":
			o.lockTimeoutSet = true
		case "statement_timeout":
			o.stmtTimeoutSet = true
		}
		return
	}
	switch {
	case len(t) > 2 && t[0].is("CREATE") && (t[1].is("INDEX") || t[1].is("UNIQUE") && t[2].is("INDEX")):
		o.pgCreateIndex(s)
	case len(t) > 2 && t[0].is("DROP") && t[1].is("INDEX"):
		o.pgDropIndex(s)
	case len(t) > 1 && t[0].is("REINDEX") && hasWord(t, "CONCURRENTLY"):
		o.concurrently(s)
	case len(t) > 2 && t[0].is("DROP") && t[1].is("TABLE"), len(t) > 1 && t[0].is("TRUNCATE"):
		i := skipWords(t, 2, "IF", "EXISTS")
		if t[0].is("TRUNCATE") {
			i = skipWords(t, skipWords(t, 1, "TABLE"), "ONLY")
		}
		if name, _, ok := readName(t, i); ok && o.existing(name) {
			o.lock(name)
		}
	default:
		if at, ok := readAlterTable(s); ok && o.existing(at.table) {
			o.lock(at.table)
			for _, a := range at.actions {
				o.pgAlterAction(s, at.table, a)
			}
		}
	}
}

// concurrently reports CONCURRENTLY in a migration run in a transaction,
// where PostgreSQL refuses it.
func (o *online) concurrently(s stmt) {
	if !o.in.NoTransaction {
		o.out = append(o.out, o.in.finding(CodeConcurrentlyInTransaction, SeverityError,
			"runs %q inside a transaction, where PostgreSQL refuses CONCURRENTLY; add the line \"-- +goose NO TRANSACTION\" to the file", s.head()))
	}
}

func (o *online) pgCreateIndex(s stmt) {
	t := s.toks
	i := skipWords(t, 1, "UNIQUE")
	i++ // INDEX
	conc := i < len(t) && t[i].is("CONCURRENTLY")
	if conc {
		i++
	}
	on := indexWord(t, "ON")
	if on < 0 {
		return
	}
	table, _, ok := readName(t, skipWords(t, on+1, "ONLY"))
	if conc {
		o.concurrently(s)
	}
	if !ok || !o.existing(table) {
		return
	}
	if !conc {
		o.lock(table)
		o.warn(CodeIndexNotConcurrent, "builds an index on existing table %s without CONCURRENTLY (%q), blocking writes for the whole build; use CREATE INDEX CONCURRENTLY in a file marked \"-- +goose NO TRANSACTION\"", table, s.head())
	}
}

func (o *online) pgDropIndex(s stmt) {
	t := s.toks
	i := 2
	conc := i < len(t) && t[i].is("CONCURRENTLY")
	if conc {
		i++
		o.concurrently(s)
	}
	i = skipWords(t, i, "IF", "EXISTS")
	for _, part := range splitTop(t[i:]) {
		name, _, ok := readName(part, 0)
		if !ok {
			continue
		}
		table := o.indexTable(name)
		if table == "" || conc {
			continue
		}
		o.lock(table)
		o.warn(CodeIndexNotConcurrent, "drops index %s of existing table %s without CONCURRENTLY, taking an exclusive lock on the table; use DROP INDEX CONCURRENTLY in a file marked \"-- +goose NO TRANSACTION\"", name, table)
	}
}

// indexTable returns the S0 table that has the index name, or "".
func (o *online) indexTable(name string) string {
	for _, t := range o.in.Before.Tables {
		for _, ix := range t.Indexes {
			if strings.EqualFold(ix.Name, name) {
				return t.Name
			}
		}
	}
	return ""
}

// isVolatile reports whether fn is a PostgreSQL function whose value
// differs per row, so that a column default made of it is computed for
// every existing row.
func isVolatile(fn string) bool {
	switch strings.ToLower(fn) {
	case "random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7",
		"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
		"clock_timestamp", "timeofday", "nextval", "txid_current":
		return true
	}
	return false
}

func (o *online) pgAlterAction(s stmt, table string, a []token) {
	switch {
	case len(a) > 1 && a[0].is("ADD") && (a[1].is("CONSTRAINT") || a[1].is("FOREIGN") || a[1].is("CHECK") || a[1].is("UNIQUE") || a[1].is("PRIMARY")):
		o.pgAddConstraint(table, a)
		return
	case len(a) > 2 && a[0].is("VALIDATE"):
		return // the safe second step: a SHARE UPDATE EXCLUSIVE lock
	}
	ca, ok := readColumnAction(a)
	if !ok {
		return
	}
	bt := findTable(o.in.Before, table)
	switch ca.kw {
	case "ADD":
		if bt.Column(ca.col) != nil {
			return
		}
		if fn := volatileCall(ca.rest); fn != "" {
			o.warn(CodeVolatileDefault, "adds column %s.%s with a volatile default (%s), which rewrites the table under an exclusive lock; add the column without a default (or a constant one), then backfill in batches", table, ca.col, fn)
		} else if len(ca.rest) > 0 && ca.rest[0].kind == tokWord && strings.Contains(strings.ToLower(ca.rest[0].text), "serial") {
			o.warn(CodeVolatileDefault, "adds %s column %s.%s, whose nextval() default rewrites the table under an exclusive lock; add a nullable column, backfill, then attach the sequence", strings.ToLower(ca.rest[0].text), table, ca.col)
		} else if hasWord(ca.rest, "IDENTITY") {
			o.warn(CodeVolatileDefault, "adds identity column %s.%s, which fills every row and rewrites the table under an exclusive lock; add a nullable column, backfill, then add the identity", table, ca.col)
		} else if hasWord(ca.rest, "GENERATED") && hasWord(ca.rest, "STORED") {
			o.warn(CodeTableRewrite, "adds stored generated column %s.%s, which rewrites the table under an exclusive lock; add a plain column and fill it with a trigger and a backfill", table, ca.col)
		}
	case "ALTER":
		rest := ca.rest
		switch {
		case len(rest) > 1 && rest[0].is("SET") && rest[1].is("NOT"):
			if !hasNotNullCheck(bt, ca.col) {
				o.warn(CodeNotNullScan, "sets %s.%s NOT NULL, which scans the whole table under an exclusive lock; first add CHECK (%s IS NOT NULL) NOT VALID and VALIDATE it in an earlier migration", table, ca.col, ca.col)
			}
		case hasWord(rest, "TYPE"):
			bc := bt.Column(ca.col)
			if bc == nil {
				bc = findColumn(bt, ca.col)
			}
			ac := o.afterColumn(table, ca.col)
			if bc != nil && ac != nil && pgRewrites(o.in.Before, o.in.After, bc.Type, ac.Type, hasWord(rest, "USING")) {
				o.warn(CodeTableRewrite, "changes the type of %s.%s from %s to %s, which rewrites the table and its indexes under an exclusive lock; add a new column, backfill it, and switch over", table, ca.col, bc.Type, ac.Type)
			}
		}
	}
}

// afterColumn finds column col of table in S1, following a table rename.
func (o *online) afterColumn(table, col string) *Column {
	t := findTable(o.in.After, table)
	if t == nil {
		return nil
	}
	return findColumn(t, col)
}

func (o *online) pgAddConstraint(table string, a []token) {
	i := 1
	if a[i].is("CONSTRAINT") {
		_, j, _ := readName(a, i+1)
		i = j
	}
	if i >= len(a) {
		return
	}
	switch {
	case a[i].is("FOREIGN") || a[i].is("CHECK"):
		if !hasSeq(a, "NOT", "VALID") {
			kind := "FOREIGN KEY"
			if a[i].is("CHECK") {
				kind = "CHECK"
			}
			o.warn(CodeConstraintValidation, "adds a %s to existing table %s without NOT VALID, checking every row while it holds the lock; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration", kind, table)
		}
	case a[i].is("UNIQUE") || a[i].is("PRIMARY"):
		if !hasSeq(a, "USING", "INDEX") {
			o.warn(CodeIndexNotConcurrent, "adds a %s constraint to existing table %s, building its index while writes are blocked; build a unique index CONCURRENTLY (\"-- +goose NO TRANSACTION\"), then ADD CONSTRAINT … USING INDEX", strings.ToUpper(a[i].text), table)
		}
	}
}

// volatileCall returns the first volatile function called in toks, or "".
func volatileCall(toks []token) string {
	for i, t := range toks {
		if t.kind == tokWord && i+1 < len(toks) && toks[i+1].punct('(') && isVolatile(t.text) {
			return strings.ToLower(t.text) + "()"
		}
	}
	return ""
}

// hasNotNullCheck reports whether t has a validated CHECK (col IS NOT
// NULL), which lets PostgreSQL 12+ skip the scan of SET NOT NULL. One
// added NOT VALID and not validated since proves nothing about old rows:
// PostgreSQL still scans.
func hasNotNullCheck(t *Table, col string) bool {
	want := strings.ToLower(col) + " is not null"
	for _, ck := range t.Checks {
		if ck.NotValid {
			continue
		}
		e := strings.NewReplacer("(", "", ")", "", `"`, "").Replace(ck.Expr)
		if foldSpace(e) == want {
			return true
		}
	}
	return false
}

// pgRewrites reports whether ALTER COLUMN TYPE from a to b rewrites the
// table. PostgreSQL skips the rewrite for binary-coercible changes that
// keep every value: a longer or unlimited varchar, varchar to text, a
// numeric with more precision and the same scale.
func pgRewrites(sb, sa *Snapshot, a, b string, using bool) bool {
	if a == b && !using {
		return false
	}
	ta, tb := readType(sb, a), readType(sa, b)
	baseA, _ := splitTypeArgs(a)
	baseB, _ := splitTypeArgs(b)
	switch {
	case using:
		return true
	case (baseA == "varchar" || baseA == "character varying" || baseA == "text") && (baseB == "varchar" || baseB == "character varying" || baseB == "text"):
		return tb.size < ta.size
	case ta.kind == kindDecimal && tb.kind == kindDecimal:
		return tb.scale != ta.scale && tb.precision != unbounded || tb.precision < ta.precision
	case baseA == "cidr" && baseB == "inet":
		return false
	}
	return true
}

// mysql applies the MySQL/MariaDB rules to one statement.
func (o *online) mysql(s stmt) {
	t := s.toks
	if len(t) > 3 && t[0].is("SET") && t[1].is("STATEMENT") { // MariaDB: SET STATEMENT v=x FOR stmt
		forAt := indexWord(t, "FOR")
		if forAt < 0 {
			return
		}
		if hasWord(t[:forAt], "lock_wait_timeout") {
			o.lockTimeoutSet = true
		}
		s = stmt{toks: t[forAt+1:], text: s.text}
		t = s.toks
	} else if name, value, ok := setting(t); ok {
		switch name {
		case "lock_wait_timeout":
			o.lockTimeoutSet = true
		case "foreign_key_checks":
			o.fkChecksOff = value == "0" || value == "off"
		}
		return
	}
	switch {
	case len(t) > 2 && t[0].is("RENAME") && t[1].is("TABLE"):
		if name, _, ok := readName(t, 2); ok && o.existing(name) {
			o.lock(name)
		}
		return
	case len(t) > 2 && t[0].is("DROP") && t[1].is("TABLE"):
		if name, _, ok := readName(t, skipWords(t, 2, "IF", "EXISTS")); ok && o.existing(name) {
			o.lock(name)
		}
		return
	case len(t) > 3 && t[0].is("CREATE"):
		if on := indexWord(t, "ON"); on > 0 && hasWord(t[:on], "INDEX") {
			if name, _, ok := readName(t, on+1); ok && o.existing(name) {
				o.lock(name)
			}
		}
		return
	}
	at, ok := readAlterTable(s)
	if !ok || !o.existing(at.table) {
		return
	}
	if !hasSeq(t, "NOWAIT") && indexWord(t, "WAIT") < 0 {
		o.lock(at.table)
	}
	if algo := mysqlAlgorithm(at.actions); algo != "" {
		if algo == "copy" {
			o.warn(CodeTableCopy, "alters existing table %s with ALGORITHM=COPY, copying it while writes are blocked; drop the clause so the server picks INPLACE or INSTANT", at.table)
		}
		return // INPLACE, INSTANT or NOCOPY: the server refuses rather than copies
	}
	if why := o.mysqlCopies(at); why != "" {
		o.warn(CodeTableCopy, "%s on existing table %s, which copies the table (ALGORITHM=COPY) while writes are blocked; add a new column or table, backfill it, and switch over", why, at.table)
	}
}

// mysqlAlgorithm returns the ALGORITHM clause's value in lower case, or "".
func mysqlAlgorithm(actions [][]token) string {
	for _, a := range actions {
		if len(a) >= 2 && a[0].is("ALGORITHM") {
			v := a[len(a)-1]
			return strings.ToLower(v.text)
		}
	}
	return ""
}

// mysqlCopies says why the ALTER TABLE copies the table, or "". The cases
// are those MariaDB 10.11 refuses to run with ALGORITHM=INPLACE (the tests
// prove each against the server); MySQL 8.0 copies in the same cases.
func (o *online) mysqlCopies(at alterTable) string {
	bt := findTable(o.in.Before, at.table)
	addsPK := slices.ContainsFunc(at.actions, func(a []token) bool {
		return hasSeq(a, "ADD", "PRIMARY") || hasSeq(a, "PRIMARY", "KEY") && a[0].is("ADD")
	})
	for _, a := range at.actions {
		switch {
		case len(a) >= 3 && a[0].is("DROP") && a[1].is("PRIMARY") && !addsPK:
			return "drops the primary key without adding another in the same statement"
		case len(a) >= 3 && a[0].is("CONVERT") && a[1].is("TO"):
			return "converts the character set"
		case len(a) >= 2 && a[0].is("ADD") && hasWord(a, "FOREIGN") && !o.fkChecksOff:
			return "adds a foreign key while foreign_key_checks is on"
		case len(a) >= 2 && a[0].is("ADD") && hasWord(a, "CHECK") && (a[1].is("CONSTRAINT") || a[1].is("CHECK")):
			return "adds a CHECK constraint"
		}
		ca, ok := readColumnAction(a)
		if !ok {
			continue
		}
		switch ca.kw {
		case "ADD":
			if bt.Column(ca.col) == nil && hasWord(ca.rest, "AS") && (hasWord(ca.rest, "STORED") || hasWord(ca.rest, "PERSISTENT")) {
				return "adds stored generated column " + ca.col
			}
		case "MODIFY", "CHANGE":
			old := ca.col
			if ca.kw == "CHANGE" {
				old = ca.old
			}
			bc, ac := findColumn(bt, old), o.afterColumn(at.table, ca.col)
			if bc != nil && ac != nil && mysqlTypeCopies(o.in.Before, o.in.After, bc.Type, ac.Type) {
				return "changes the type of column " + old + " from " + bc.Type + " to " + ac.Type
			}
		}
	}
	return ""
}

// mysqlTypeCopies reports whether changing a column's type from a to b
// copies the table: every change except a longer VARCHAR/VARBINARY and
// ENUM/SET values appended at the end.
func mysqlTypeCopies(sb, sa *Snapshot, a, b string) bool {
	ta, tb := readType(sb, a), readType(sa, b)
	if a == b {
		return false
	}
	baseA, _ := splitTypeArgs(a)
	baseB, _ := splitTypeArgs(b)
	switch {
	case baseA == baseB && (baseA == "varchar" || baseA == "varbinary"):
		return tb.size < ta.size
	case ta.kind == tb.kind && (ta.kind == kindEnum || ta.kind == kindSet):
		return len(tb.values) < len(ta.values) || !slices.Equal(ta.values, tb.values[:len(ta.values)])
	}
	return ta.kind != tb.kind || ta.size != tb.size || ta.unsigned != tb.unsigned || ta.precision != tb.precision || ta.scale != tb.scale || baseA != baseB
}

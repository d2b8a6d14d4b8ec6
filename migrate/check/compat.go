package check

import "fmt"

// Finding codes of the backward-compatibility analysis.
//
// Contract findings (severity error) say that the previous release's code,
// still running during a rollout and again after a rollback of the code, may
// fail on the schema the migration leaves. A "-- rollsafe:contract
// reason=…" annotation in the file, or WithSince at or above the
// migration's version, turns them into info.
const (
	// CodeTableDropped: a table the previous release may use was dropped.
	CodeTableDropped Code = "table_dropped"
	// CodeColumnDropped: a column was dropped.
	CodeColumnDropped Code = "column_dropped"
	// CodeTableRenamed: a table was renamed; old code uses the old name.
	CodeTableRenamed Code = "table_renamed"
	// CodeColumnRenamed: a column was renamed.
	CodeColumnRenamed Code = "column_renamed"
	// CodeColumnTypeNarrowed: a column's type holds fewer values than before
	// (shorter, smaller, fewer digits), so old code may write values it
	// rejects.
	CodeColumnTypeNarrowed Code = "column_type_narrowed"
	// CodeColumnTypeChanged: a column's type changed kind (e.g. text to
	// integer), so old code reads or writes it differently.
	CodeColumnTypeChanged Code = "column_type_changed"
	// CodeColumnNotNull: a nullable column became NOT NULL; old code may
	// write NULL or leave the column out.
	CodeColumnNotNull Code = "column_not_null"
	// CodeColumnDefaultDropped: a NOT NULL column lost its default; old code
	// that leaves the column out of an INSERT now fails.
	CodeColumnDefaultDropped Code = "column_default_dropped"
	// CodeNotNullColumnAdded: a NOT NULL column without a default was added
	// to an existing table; old code's INSERTs leave it out and fail.
	CodeNotNullColumnAdded Code = "not_null_column_added"
	// CodeUniqueAdded: a UNIQUE constraint or index (or a primary key) now
	// covers columns old code writes.
	CodeUniqueAdded Code = "unique_added"
	// CodeForeignKeyAdded: a foreign key was added over columns old code
	// writes.
	CodeForeignKeyAdded Code = "foreign_key_added"
	// CodeCheckAdded: a CHECK constraint was added over columns old code
	// writes.
	CodeCheckAdded Code = "check_added"
	// CodeEnumValueRemoved: a value of an enum (a PostgreSQL enum type or a
	// MySQL ENUM/SET column) was removed.
	CodeEnumValueRemoved Code = "enum_value_removed"
	// CodeEnumValueRenamed: a value of an enum was renamed.
	CodeEnumValueRenamed Code = "enum_value_renamed"
	// CodeViewDropped: a view was dropped.
	CodeViewDropped Code = "view_dropped"
	// CodeViewChanged: a view lost, renamed or reordered columns.
	CodeViewChanged Code = "view_changed"
)

// Online-safety codes (severity warning, except
// CodeConcurrentlyInTransaction): the migration is compatible, but running
// it on a busy production table blocks reads or writes for longer than a
// lock wait. The diff cannot tell; they are read from the statement text,
// per dialect.
const (
	// CodeIndexNotConcurrent (PostgreSQL): CREATE INDEX, DROP INDEX or ADD
	// UNIQUE/PRIMARY KEY on an existing table without CONCURRENTLY blocks
	// writes for the whole index build.
	CodeIndexNotConcurrent Code = "index_not_concurrent"
	// CodeConcurrentlyInTransaction (PostgreSQL, error): CONCURRENTLY in a
	// migration that goose runs in a transaction fails.
	CodeConcurrentlyInTransaction Code = "concurrently_in_transaction"
	// CodeVolatileDefault (PostgreSQL): ADD COLUMN with a volatile default
	// (random(), gen_random_uuid(), clock_timestamp(), nextval(), serial,
	// identity) rewrites the table under an exclusive lock.
	CodeVolatileDefault Code = "volatile_default"
	// CodeTableRewrite (PostgreSQL): a column type change that is not
	// binary-compatible, or a stored generated column, rewrites the table
	// under an exclusive lock.
	CodeTableRewrite Code = "table_rewrite"
	// CodeNotNullScan (PostgreSQL): SET NOT NULL without a CHECK (c IS NOT
	// NULL) constraint scans the whole table under an exclusive lock.
	CodeNotNullScan Code = "not_null_scan"
	// CodeConstraintValidation (PostgreSQL): ADD FOREIGN KEY or CHECK
	// without NOT VALID checks every row while holding the lock.
	CodeConstraintValidation Code = "constraint_validation"
	// CodeTableCopy (MySQL/MariaDB): the ALTER TABLE copies the table
	// (ALGORITHM=COPY), blocking writes for the whole copy.
	CodeTableCopy Code = "table_copy"
	// CodeTimeoutMissing (PostgreSQL, MySQL/MariaDB; only with
	// WithTimeoutCheck): a migration that locks an existing table sets no
	// lock timeout, so it may queue behind a long query and block everyone
	// queued behind it.
	CodeTimeoutMissing Code = "timeout_missing"
)

// IsContract reports whether code is a contract finding code of the
// compatibility analysis: one that an acknowledgement or WithSince turns
// into info.
func IsContract(code Code) bool {
	switch code {
	case CodeTableDropped, CodeColumnDropped, CodeTableRenamed, CodeColumnRenamed,
		CodeColumnTypeNarrowed, CodeColumnTypeChanged, CodeColumnNotNull,
		CodeColumnDefaultDropped, CodeNotNullColumnAdded, CodeUniqueAdded,
		CodeForeignKeyAdded, CodeCheckAdded, CodeEnumValueRemoved,
		CodeEnumValueRenamed, CodeViewDropped, CodeViewChanged:
		return true
	}
	return false
}

// compatFindings is the compatibility analysis of one migration whose up
// ran: contract findings from the schema diff and the statements' renames,
// online-safety findings from the statements. A "-- rollsafe:contract"
// annotation, or opts.Since at or above the migration's version, turns the
// contract findings into info.
func compatFindings(in stepInput, opts compatOptions) []Finding {
	if opts.Disabled || in.Before == nil || in.After == nil {
		return nil
	}
	stmts := splitSQL(in.UpSQL, in.Dialect)
	var rel *Snapshot // the previous release's schema, when WithSince tells it
	if opts.Since > 0 && in.Version > opts.Since {
		rel = in.Released
	}
	findings := contractFindings(in, stmts, rel)
	findings = append(findings, onlineFindings(in, stmts, opts)...)
	ack := in.Contract
	shipped := opts.Since > 0 && in.Version <= opts.Since
	for i := range findings {
		f := &findings[i]
		f.Version, f.Source = in.Version, in.Source
		if !IsContract(f.Code) {
			continue
		}
		switch {
		case ack != nil:
			f.Severity = SeverityInfo
			f.Message += fmt.Sprintf(" (acknowledged on line %d: %s)", ack.Line, ack.Reason)
		case shipped:
			f.Severity = SeverityInfo
			f.Message += fmt.Sprintf(" (shipped: version %d is at or before --since %d)", in.Version, opts.Since)
		}
	}
	return findings
}

// finding builds a finding whose message starts with the migration file.
func (in *stepInput) finding(code Code, sev Severity, format string, args ...any) Finding {
	return Finding{Code: code, Severity: sev, Version: in.Version, Source: in.Source,
		Message: in.Source + ": " + fmt.Sprintf(format, args...)}
}

package check

import (
	"encoding/json"
	"fmt"

	"github.com/rollsafe/rollsafe/dialect"
)

// Severity says how much a finding matters. Its JSON form is the string.
type Severity string

// The severities. Only SeverityError makes a report fail (Report.OK).
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// UnmarshalJSON refuses severities other than the three above.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	switch Severity(v) {
	case SeverityError, SeverityWarning, SeverityInfo:
		*s = Severity(v)
		return nil
	}
	return fmt.Errorf("unknown severity %q (want error|warning|info)", v)
}

// Code names the kind of a finding, e.g. "down_missing". Codes are stable:
// CI pipelines and the README refer to them. Its JSON form is the string.
type Code string

// Finding codes of the reversibility check.
const (
	// CodeDownMissing: the migration has no down, or an empty one.
	CodeDownMissing Code = "down_missing"
	// CodeUpFailed: the up failed (on an empty database too).
	CodeUpFailed Code = "up_failed"
	// CodeUpFailsWithData: the up failed on the seeded database but passed on
	// an empty one, so it would pass a test on an empty database and fail
	// in production.
	CodeUpFailsWithData Code = "up_fails_with_data"
	// CodeDownFailed: the down failed.
	CodeDownFailed Code = "down_failed"
	// CodeSchemaNotRestored: after the down the schema differs from the one
	// before the up.
	CodeSchemaNotRestored Code = "schema_not_restored"
	// CodeColumnOrder: after the down a table has the same columns as
	// before the up, in another order (a warning: re-adding a dropped column
	// appends it).
	CodeColumnOrder Code = "column_order"
	// CodeRowsLost: seeded rows present before the up were gone after the down.
	CodeRowsLost Code = "rows_lost"
	// CodeRowsChanged: seeded rows present before the up had other values
	// after the down.
	CodeRowsChanged Code = "rows_changed"
	// CodeReapplyFailed: the up failed when run again after the down.
	CodeReapplyFailed Code = "reapply_failed"
	// CodeReapplyDiffers: the up run again after the down gave another
	// schema than the first time (e.g. an index the down left behind).
	CodeReapplyDiffers Code = "reapply_differs"
	// CodeIrreversible: the migration is annotated irreversible; its down
	// was not run (info).
	CodeIrreversible Code = "irreversible"
	// CodeRowsNotGenerated: no rows could be generated for a table (e.g. a
	// CHECK no candidate value satisfies); its data is not checked (info).
	CodeRowsNotGenerated Code = "rows_not_generated"
	// CodeNotChecked: the migration was not reached because an earlier one
	// left the scratch database in an unknown state.
	CodeNotChecked Code = "not_checked"
	// CodeAnnotationInvalid: a rollsafe: annotation in the file is malformed
	// or unknown.
	CodeAnnotationInvalid Code = "annotation_invalid"
)

// Finding is one thing the check found about one migration.
type Finding struct {
	// Code is one of the Code constants.
	Code     Code     `json:"code"`
	Severity Severity `json:"severity"`
	// Message is one line for people; it names the migration file.
	Message string `json:"message"`
	// Detail holds further lines, e.g. the schema diff; "" when none.
	Detail string `json:"detail,omitempty"`
	// Version and Source repeat the migration the finding belongs to, so a
	// flat list of findings (Report.All) still says where each is from.
	Version int64  `json:"-"`
	Source  string `json:"-"`
}

// String returns "SOURCE: severity CODE: message".
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s %s: %s", f.Source, f.Severity, f.Code, f.Message)
}

// MigrationReport is what the check found about one migration.
type MigrationReport struct {
	Version int64 `json:"version"`
	// Source is the file name relative to the migrations directory (e.g.
	// "00003_add_index.sql"), or the Go source file of a Go migration.
	Source string `json:"source"`
	// Reversible is true when up, down and up again ran and the down
	// restored schema and rows; compatibility findings do not count. It is
	// false for an irreversible (annotated) migration, and for one the
	// check never reached.
	Reversible bool      `json:"reversible"`
	Findings   []Finding `json:"findings"`
}

// Report is the result of a check run.
type Report struct {
	// OK is true when no finding has severity error.
	OK      bool            `json:"ok"`
	Dialect dialect.Dialect `json:"dialect"`
	// Migrations are in version order, one for every migration found.
	Migrations []MigrationReport `json:"migrations"`
	// Findings are about the directory as a whole rather than one
	// migration that exists (e.g. a migration listed in the sum file whose
	// file is gone).
	Findings []Finding `json:"findings,omitempty"`
}

// All returns every finding: the directory's, then every migration's in
// version order.
func (r *Report) All() []Finding {
	all := append([]Finding(nil), r.Findings...)
	for _, m := range r.Migrations {
		all = append(all, m.Findings...)
	}
	return all
}

// Errors returns the number of findings of severity error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.All() {
		if f.Severity == SeverityError {
			n++
		}
	}
	return n
}

// setOK recomputes OK from the findings.
func (r *Report) setOK() { r.OK = r.Errors() == 0 }

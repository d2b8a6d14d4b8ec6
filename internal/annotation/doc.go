// Package annotation reads rollsafe's annotations from SQL migration files.
//
// # Syntax
//
// An annotation is a line comment of its own:
//
//	-- rollsafe:irreversible reason="drops the legacy audit table; nothing reads it"
//	-- rollsafe:contract reason="orders.legacy_state is unread since release 41"
//
// The name follows "rollsafe:" and the arguments are key="value" pairs
// separated by spaces or tabs; a value may hold \" and \\. The only key is
// reason, and every annotation needs a non-blank one.
//
// # Errors
//
// An unknown name (a misspelling, or "rollsafe:" in another case), an
// unknown or repeated key, or a missing reason is an error that names the
// line, so a misspelt annotation never silently does nothing. Parse reports
// every bad line at once.
//
// # Users
//
// migrate.ParseSQL is the only caller: it reads a goose file for the
// migration runner and the check alike, and hands the annotations on in
// migrate's exported form (migrate.Annotation). The runner reads
// rollsafe:irreversible (rollbacks stop above such a migration); the check
// reads both: rollsafe:irreversible skips the down, rollsafe:contract turns
// the migration's contract findings into info.
package annotation

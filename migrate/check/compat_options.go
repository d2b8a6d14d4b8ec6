package check

// WithTimeoutCheck makes the compatibility analysis warn (timeout_missing)
// about every migration that locks an existing table without first setting
// a lock timeout: PostgreSQL "SET lock_timeout" and "SET statement_timeout",
// MySQL/MariaDB "SET lock_wait_timeout" (or MariaDB's SET STATEMENT … FOR,
// or ALTER TABLE … WAIT n/NOWAIT). It is off by default, because a timeout
// is a team's policy rather than a rule.
func WithTimeoutCheck() Option {
	return func(c *config) error { c.compat.Timeouts = true; return nil }
}

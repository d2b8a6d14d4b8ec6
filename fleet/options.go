package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// Defaults used when the corresponding option is not given.
const (
	// DefaultTableName is the table a [Registry] creates and uses.
	DefaultTableName = "rollsafe_instances"
	// DefaultTTL is how long an entry lives without a heartbeat.
	DefaultTTL = 30 * time.Second
)

// Option configures [NewRegistry]. Each validates its argument; a nil
// Option is refused.
type Option func(*config) error

type config struct {
	table     string
	ttl       time.Duration
	now       func() time.Time
	heartbeat time.Duration // 0: a third of the TTL
	logger    *slog.Logger
}

var tableName = regexp.MustCompile(`^rollsafe_[a-z0-9_]{1,54}$`)

// WithTableName sets the table name; it must start with "rollsafe_" and
// continue with lower-case letters, digits and '_' (64 bytes at most).
// Default [DefaultTableName].
func WithTableName(name string) Option {
	return func(c *config) error {
		switch {
		case len(name) > 64:
			return fmt.Errorf("table name %.32q... of %d bytes is longer than 64 bytes", name, len(name))
		case !tableName.MatchString(name):
			return fmt.Errorf("table name %q is not rollsafe_ followed by [a-z0-9_]", name)
		}
		c.table = name
		return nil
	}
}

// WithTTL sets how long an entry lives without a heartbeat. Default
// [DefaultTTL]; d must be at least a millisecond.
func WithTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("ttl %v is shorter than 1ms", d)
		}
		c.ttl = d
		return nil
	}
}

// WithClock sets the clock that stamps registrations and heartbeats and
// decides which entries are stale. Default time.Now. (A [Membership]'s
// heartbeat timer runs on the runtime clock; its tests use testing/synctest.)
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("nil clock")
		}
		c.now = now
		return nil
	}
}

// WithHeartbeat sets how often a [Membership] heartbeats. Default: a third
// of the TTL; d must be positive.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("heartbeat interval %v is not positive", d)
		}
		c.heartbeat = d
		return nil
	}
}

// WithLogger sets the logger (failed heartbeats are logged at Warn).
// Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

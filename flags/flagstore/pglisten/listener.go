package pglisten

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/dsn"
	"github.com/rollsafe/rollsafe/internal/textcut"
)

// Defaults of the options.
const (
	// DefaultReconnectDelay is how long a Listener waits after a lost
	// connection, or a failed attempt to connect, before it tries again.
	DefaultReconnectDelay = time.Second
	// DefaultApplicationName is the application_name of the listening
	// connection when the connection string sets none.
	DefaultApplicationName = "rollsafe-pglisten"
)

// maxChannelLen is PostgreSQL's limit on an identifier (NAMEDATALEN-1):
// the server would cut a longer channel name, and pg_notify refuses one.
const maxChannelLen = 63

// Listener listens on PostgreSQL for the notifications a [flagstore.Store]
// sends when a writer commits a change: it is the store's
// [flagstore.Notifier]. Use [New] or [NewFromConfig]; the zero Listener is
// not usable. A Listener holds no connection between calls of
// [Listener.Listen], and several calls may run at once, each with its own
// connection.
type Listener struct {
	conn    *pgx.ConnConfig // copied for each connection
	secrets scrubber
	cfg     config
}

var _ flagstore.Notifier = (*Listener)(nil)

// Option configures a [Listener]. Options validate their argument: [New]
// returns the error of the first that refuses it.
type Option func(*config) error

type config struct {
	delay   time.Duration
	logger  *slog.Logger
	channel string
}

// WithReconnectDelay sets how long the Listener waits after a lost
// connection, or a failed attempt to connect, before it tries again. The
// default is [DefaultReconnectDelay] (1 s). d must be positive.
func WithReconnectDelay(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("pglisten: WithReconnectDelay: %v is not positive", d)
		}
		c.delay = d
		return nil
	}
}

// WithLogger sets where the Listener logs lost connections, failed
// attempts to connect and notifications it cannot read. Connection
// strings and passwords never reach the log. The default discards the
// log.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("pglisten: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithChannel sets the channel to listen on. The default is
// [flagstore.Channel], the one a Store notifies on unless its own
// flagstore.WithChannel names another: give both the same name. The name
// is used as given (quoted, case kept) and must be 1 to 63 bytes long.
func WithChannel(name string) Option {
	return func(c *config) error {
		switch {
		case name == "":
			return errors.New("pglisten: WithChannel: empty channel name")
		case len(name) > maxChannelLen:
			return fmt.Errorf("pglisten: WithChannel: channel name %q is longer than %d bytes", name, maxChannelLen)
		case strings.ContainsRune(name, 0):
			return fmt.Errorf("pglisten: WithChannel: channel name %q holds a NUL byte", name)
		}
		c.channel = name
		return nil
	}
}

// New returns a Listener that connects with connString, a PostgreSQL
// connection string in any form pgx.ParseConfig reads (a URL or keyword
// and value pairs; the PG* environment variables fill in what it leaves
// out). It does not connect: [Listener.Listen] does. An error names the
// connection string with its password removed.
func New(connString string, opts ...Option) (*Listener, error) {
	conn, err := pgx.ParseConfig(connString)
	if err != nil {
		s := scrubber{connString: connString}
		return nil, s.wrap(fmt.Errorf("pglisten: New: connection string %s: %w", dsn.Redact(connString), err))
	}
	return newListener(conn, scrubber{connString: connString, password: conn.Password}, opts)
}

// NewFromConfig returns a Listener that connects with a copy of conn (so
// that later changes to conn do not reach it), for settings a connection
// string cannot carry (a DialFunc, a TLS configuration). Build conn with
// pgx.ParseConfig.
func NewFromConfig(conn *pgx.ConnConfig, opts ...Option) (*Listener, error) {
	if conn == nil {
		return nil, errors.New("pglisten: NewFromConfig: nil connection config")
	}
	return newListener(conn.Copy(), scrubber{password: conn.Password}, opts)
}

func newListener(conn *pgx.ConnConfig, secrets scrubber, opts []Option) (*Listener, error) {
	cfg := config{delay: DefaultReconnectDelay, logger: slog.New(slog.DiscardHandler), channel: flagstore.Channel}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("pglisten: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if conn.RuntimeParams == nil {
		conn.RuntimeParams = map[string]string{}
	}
	if conn.RuntimeParams["application_name"] == "" {
		conn.RuntimeParams["application_name"] = DefaultApplicationName
	}
	return &Listener{conn: conn, secrets: secrets, cfg: cfg}, nil
}

// Listen implements [flagstore.Notifier]. It connects, listens on the
// channel ([flagstore.Channel] unless [WithChannel] says otherwise) and
// calls wake(0) once it listens, then wake(rev) for each notification,
// rev being its payload (a revision); a payload that is not a positive
// decimal revision is logged and calls wake(0), a full read being the
// safe answer to a notification it cannot read. When the connection is
// lost, or cannot be made, it logs it and tries again after the reconnect
// delay, and calls wake(0) again once it listens again. It returns nil
// when ctx ends, having closed its connection; an error only for a nil
// wake.
func (l *Listener) Listen(ctx context.Context, wake func(revision int64)) error {
	if wake == nil {
		return errors.New("pglisten: Listen: nil wake function")
	}
	pl := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, l.conn.Copy())
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return // the end of Listen, not a fault
			}
			l.cfg.logger.Warn("pglisten: not listening; trying again", "channel", l.cfg.channel,
				"retry in", l.cfg.delay, "err", l.secrets.scrub(err.Error()))
		},
		ReconnectDelay: l.cfg.delay,
	}
	pl.Handle(l.cfg.channel, &handler{wake: wake, logger: l.cfg.logger})
	err := pl.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	// pgxlisten returns early only for a Listener set up wrong, which the
	// code above rules out.
	return l.secrets.wrap(fmt.Errorf("pglisten: listen on %s: %w", l.cfg.channel, err))
}

// handler turns pgxlisten's callbacks into the Notifier's wake calls.
// pgxlisten calls it from the goroutine of Listen only.
type handler struct {
	wake   func(int64)
	logger *slog.Logger
	starts int
}

var _ pgxlisten.BacklogHandler = (*handler)(nil)

// HandleBacklog runs each time the connection starts listening: whatever
// was notified before is lost, so the store reads everything again.
func (h *handler) HandleBacklog(_ context.Context, channel string, _ *pgx.Conn) error {
	h.starts++
	if h.starts > 1 {
		h.logger.Info("pglisten: listening again", "channel", channel, "connections", h.starts)
	}
	h.wake(0)
	return nil
}

func (h *handler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	rev, err := strconv.ParseInt(n.Payload, 10, 64)
	if err != nil || rev <= 0 {
		h.logger.Warn("pglisten: a notification that names no revision; reading everything", "channel", n.Channel, "payload", truncate(n.Payload, 64))
		rev = 0
	}
	h.wake(rev)
	return nil
}

// truncate keeps a log line short whatever a payload (up to 8000 bytes)
// holds.
func truncate(s string, n int) string { return textcut.Mark(s, n) }

// scrubber removes the secrets of the connection from messages: pgx's
// errors name hosts and users, and would name a password that a misread
// connection string put in the wrong field.
type scrubber struct {
	connString string
	password   string // from the string, PGPASSWORD or the config
}

func (s scrubber) scrub(msg string) string {
	msg = dsn.Scrub(msg, s.connString)
	if len(s.password) >= 3 {
		msg = strings.ReplaceAll(msg, s.password, "xxxxx")
	}
	return msg
}

// wrap returns err with its message scrubbed; errors.Is and errors.As
// still see what it wraps.
func (s scrubber) wrap(err error) error {
	return &scrubbedError{msg: s.scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return errors.Unwrap(e.err) }

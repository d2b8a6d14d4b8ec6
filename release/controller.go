package release

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollsafe/rollsafe/dialect"
)

// Defaults of a Controller.
const (
	// DefaultLease is how long the driving instance's lease lasts without
	// renewal: when it dies, another instance drives within this time.
	DefaultLease = 3 * time.Second
	// DefaultTick is how often a Controller renews or tries the lease and,
	// when it drives, looks at each release.
	DefaultTick = 250 * time.Millisecond
)

// Controller runs releases. Every instance of a service has one; the one
// that holds the lease in the database drives (takes steps, measures,
// judges, rolls back) while the others wait to take over. Any instance's
// Controller may start, promote, pause, resume or abort a release: those
// are rows in the database, which the driver acts on.
//
// A Controller is safe for concurrent use. [Controller.Run] drives; the
// other methods need no Run.
type Controller struct {
	db        *sql.DB
	d         dialect.Dialect
	store     FlagWriter
	instances Instances
	cfg       controllerConfig

	schemaMu sync.Mutex
	schemaOK bool

	// The driver's memory, touched by Run's goroutine only.
	drive  map[string]*driving
	pruned time.Time // when the driver last deleted old samples
}

// Option configures [NewController]. Each validates its argument; a nil
// Option is refused.
type Option func(*controllerConfig) error

type controllerConfig struct {
	id     string
	lease  time.Duration
	tick   time.Duration
	now    func() time.Time
	logger *slog.Logger
	tracer trace.Tracer
	client *http.Client
	// retention is how long samples are kept, every instance's.
	retention time.Duration
}

// WithInstanceID names this Controller as a lease holder and in events;
// typically the fleet membership's id. Default: a random id.
func WithInstanceID(id string) Option {
	return func(c *controllerConfig) error {
		if id == "" || len(id) > MaxIDLen {
			return fmt.Errorf("instance id %q is empty or longer than %d bytes", clip(id, 32), MaxIDLen)
		}
		c.id = id
		return nil
	}
}

// WithLease sets how long the driver's lease lasts without renewal.
// Default [DefaultLease]; it must be longer than twice the tick.
func WithLease(d time.Duration) Option {
	return func(c *controllerConfig) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("lease %v is shorter than 10ms", d)
		}
		c.lease = d
		return nil
	}
}

// WithTick sets how often the Controller looks at the lease and the
// releases. Default [DefaultTick]; at least 1ms.
func WithTick(d time.Duration) Option {
	return func(c *controllerConfig) error {
		if d < time.Millisecond {
			return fmt.Errorf("tick %v is shorter than 1ms", d)
		}
		c.tick = d
		return nil
	}
}

// WithClock sets the clock. Default time.Now. The instances of a fleet
// compare times in the database: their clocks must agree to well within
// the lease.
func WithClock(now func() time.Time) Option {
	return func(c *controllerConfig) error {
		if now == nil {
			return errors.New("nil clock")
		}
		c.now = now
		return nil
	}
}

// WithLogger sets the logger. Default: logs are discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *controllerConfig) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithTracerProvider sets where the spans of steps go. Default the global
// OpenTelemetry tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *controllerConfig) error {
		if tp == nil {
			return errors.New("nil tracer provider")
		}
		c.tracer = tp.Tracer(tracerName)
		return nil
	}
}

// WithSampleRetention sets how long the driver keeps the samples of every
// instance, those of instances that are gone included (each Recorder
// deletes only its own). Default [DefaultRetention]; at least
// [MinRetention].
func WithSampleRetention(d time.Duration) Option {
	return func(c *controllerConfig) error {
		if d < MinRetention {
			return fmt.Errorf("sample retention %v is shorter than %v", d, MinRetention)
		}
		c.retention = d
		return nil
	}
}

// WithHTTPClient sets the client of webhooks and Prometheus queries.
// Default: a client of its own with no timeout beyond each call's.
func WithHTTPClient(client *http.Client) Option {
	return func(c *controllerConfig) error {
		if client == nil {
			return errors.New("nil HTTP client")
		}
		c.client = client
		return nil
	}
}

const tracerName = "github.com/rollsafe/rollsafe/release"

// NewController returns a Controller over db (speaking d), which moves
// flags in store and reads the fleet's instances from instances (nil: no
// check of [Plan.Requires] is possible, and a plan that has one is refused
// at Start). It does no I/O; the first call that needs the tables creates
// them.
func NewController(db *sql.DB, d dialect.Dialect, store FlagWriter, instances Instances, opts ...Option) (*Controller, error) {
	if db == nil {
		return nil, errors.New("release: controller: nil database")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("release: controller: %w", err)
	}
	if store == nil {
		return nil, errors.New("release: controller: nil flag store")
	}
	c := &Controller{db: db, d: d, store: store, instances: instances, drive: map[string]*driving{}}
	c.cfg = controllerConfig{
		lease: DefaultLease, tick: DefaultTick, now: time.Now,
		logger: slog.New(slog.DiscardHandler), tracer: otel.GetTracerProvider().Tracer(tracerName),
		client: &http.Client{}, retention: DefaultRetention,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("release: controller: nil option")
		}
		if err := o(&c.cfg); err != nil {
			return nil, fmt.Errorf("release: controller: %w", err)
		}
	}
	if c.cfg.lease <= 2*c.cfg.tick {
		return nil, fmt.Errorf("release: controller: lease %v is not longer than two ticks of %v", c.cfg.lease, c.cfg.tick)
	}
	if c.cfg.id == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		c.cfg.id = "controller-" + hex.EncodeToString(b)
	}
	return c, nil
}

// ID is the name this Controller holds the lease and writes events under.
func (c *Controller) ID() string { return c.cfg.id }

func (c *Controller) ensure(ctx context.Context) error {
	c.schemaMu.Lock()
	defer c.schemaMu.Unlock()
	if c.schemaOK {
		return nil
	}
	if err := ensureSchema(ctx, c.db, c.d); err != nil {
		return err
	}
	c.schemaOK = true
	return nil
}

// Run drives releases until ctx ends: every tick it renews the lease (or
// takes it when it has lapsed) and, while it holds it, advances, judges
// and rolls back every release that is not over. The lease is renewed
// before each release is looked at, and the look (its webhook calls and
// Prometheus queries included) is cut off before the lease could lapse, so
// that no other instance can drive while this one still writes. It returns ctx's error,
// after giving up the lease so that another instance drives at once.
// Failures (the database out of reach) are logged and tried again at the
// next tick; an instance that cannot renew its lease stops driving.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.tick)
	defer t.Stop()
	defer c.stopDriving()
	holding := false
	for {
		if err := c.ensure(ctx); err != nil {
			c.cfg.logger.Warn("release: tables", "err", err)
		} else {
			held, err := c.acquire(ctx)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					c.cfg.logger.Warn("release: lease", "err", err)
				}
				held = false
				c.stopDriving()
			case held && !holding:
				c.cfg.logger.Info("release: driving", "instance", c.cfg.id)
			case !held && holding:
				c.cfg.logger.Info("release: lease lost", "instance", c.cfg.id)
				c.stopDriving()
			}
			holding = held
			if holding {
				c.driveAll(ctx)
			}
		}
		select {
		case <-ctx.Done():
			if holding {
				c.releaseLease()
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

const leaseName = "driver"

// acquire renews the lease or takes it when it has lapsed, and says
// whether this Controller holds it now.
func (c *Controller) acquire(ctx context.Context) (bool, error) {
	now := c.cfg.now().UnixMilli()
	until := now + c.cfg.lease.Milliseconds()
	id := c.cfg.id
	for range 2 {
		_, err := c.db.ExecContext(ctx, c.d.Rebind(`UPDATE `+tableLease+` SET
			acquired_ms = CASE WHEN holder = ? THEN acquired_ms ELSE ? END, holder = ?, until_ms = ?
			WHERE name = ? AND (holder = ? OR until_ms < ?)`), id, now, id, until, leaseName, id, now)
		if err != nil {
			return false, err
		}
		// MySQL counts changed rows, not matched ones: read back who holds it.
		var holder string
		err = c.db.QueryRowContext(ctx, c.d.Rebind(`SELECT holder FROM `+tableLease+` WHERE name = ?`), leaseName).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := c.db.ExecContext(ctx, c.d.Rebind(insertIgnore(c.d, tableLease, "name, holder, until_ms, acquired_ms", "?, '', 0, 0", "name")), leaseName); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		return holder == id, nil
	}
	return false, errors.New("lease row missing after insert")
}

// releaseLease lets the lease lapse now, so that another instance takes it
// at its next tick rather than after the lease time.
func (c *Controller) releaseLease() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.db.ExecContext(ctx, c.d.Rebind(`UPDATE `+tableLease+` SET until_ms = 0 WHERE name = ? AND holder = ?`), leaseName, c.cfg.id); err != nil {
		c.cfg.logger.Warn("release: give up the lease", "err", err)
	}
}

// Driver returns the id of the instance that holds the lease, or "" when
// it has lapsed.
func (c *Controller) Driver(ctx context.Context) (string, error) {
	if err := c.ensure(ctx); err != nil {
		return "", err
	}
	var holder string
	var until int64
	err := c.db.QueryRowContext(ctx, c.d.Rebind(`SELECT holder, until_ms FROM `+tableLease+` WHERE name = ?`), leaseName).Scan(&holder, &until)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && until < c.cfg.now().UnixMilli()) {
		return "", nil
	}
	return holder, err
}

// insertIgnore is an INSERT that leaves an existing row with the same key.
func insertIgnore(d dialect.Dialect, table, columns, values, key string) string {
	q := "INSERT INTO " + table + " (" + columns + ") VALUES (" + values + ")"
	switch d {
	case dialect.Postgres:
		return q + " ON CONFLICT (" + key + ") DO NOTHING"
	case dialect.MySQL:
		return "INSERT IGNORE" + q[len("INSERT"):]
	}
	return "INSERT OR IGNORE" + q[len("INSERT"):]
}

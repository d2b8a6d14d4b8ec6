package flagstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/flags"
)

// readTimeout bounds each read of a watch, so that a database that stops
// answering (rather than refusing) is reported as an outage too.
const readTimeout = 5 * time.Second

// Watch implements [flags.Source]: it delivers the store's flags, then the
// flags of every later revision, until ctx ends. Each delivered Set
// carries its revision ([flags.Set.Revision]). Revisions only go up, since
// every write raises the revision row under its lock; a read that finds a
// lower one means the tables were restored or recreated, and the store's
// flags are served (with a warning in the log), as they are after a start
// from the cache file.
//
// How it learns of a change: by reading the revision row every poll
// interval ([WithPollInterval]: 250 ms by default, jittered ±10 %), or at once
// from a [Notifier] (PostgreSQL's LISTEN, in package pglisten), beside
// which a slow safety poll (5 s) goes on. Each time the notifier starts
// listening, the watch reads everything again.
//
// Faults:
//   - the database unreachable: the last good flags keep serving; the
//     watch delivers the error once (a [flags.Provider] sends STALE), then
//     the flags again when a read succeeds (READY, and
//     CONFIGURATION_CHANGED with the keys that changed meanwhile);
//   - unreachable at start-up: the flags of the cache file
//     ([WithCacheFile]) if there is one, then the error; without one, the
//     error alone (the Provider's Init fails, and it turns READY when the
//     database answers);
//   - a revision whose rows do not form a valid document (shared rules
//     changed by hand into something invalid): refused whole, the last
//     good flags keep serving, the error is delivered (STALE);
//   - a flag row changed by hand into an invalid definition: that flag is
//     refused and the others of the revision are served; the Provider
//     keeps serving the flag's last good definition, and reports it
//     ([flags.Provider]'s invalid-flag reporting).
func (s *Store) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	w := &watch{s: s, changed: changed, notifying: s.cfg.notifier != nil, refused: -1}
	w.signal = make(chan struct{}, 1)
	var listened chan error // nil once the notifier stopped: the select then never takes it
	if s.cfg.notifier != nil {
		listenCtx, stop := context.WithCancel(ctx)
		listened = make(chan error, 1)
		listenDone := make(chan struct{})
		go func() {
			defer close(listenDone)
			listened <- s.cfg.notifier.Listen(listenCtx, w.wake)
		}()
		defer func() {
			stop()
			<-listenDone
		}()
	}
	w.refresh(ctx, true)
	timer := time.NewTimer(w.interval())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			w.refresh(ctx, false)
			timer.Reset(w.interval())
		case <-w.signal:
			w.refresh(ctx, w.takeResync())
		case err := <-listened:
			if ctx.Err() != nil {
				return nil
			}
			s.cfg.logger.Error("flagstore: the notifier stopped; polling instead", "err", err, "interval", s.pollInterval(false))
			listened, w.notifying = nil, false
			timer.Reset(w.interval())
		}
	}
}

// watch is the state of one Watch call; only its goroutine touches it,
// except for the wake requests under mu.
type watch struct {
	s         *Store
	changed   func(*flags.Set, error)
	notifying bool

	last     *flags.Set // the last set delivered; nil before the first
	served   int64      // its revision
	stale    bool       // an error was delivered since the last set
	refused  int64      // the revision last refused whole (-1: none), so as to tell it once
	failures int        // reads failed in a row
	fromFile bool       // last came from the cache file

	mu     sync.Mutex
	resync bool  // a full read is asked for
	hint   int64 // the highest revision notified
	signal chan struct{}
}

// wake is the notifier's callback: 0 asks for a full read, a revision
// above the served one for a read of it.
func (w *watch) wake(rev int64) {
	w.mu.Lock()
	if rev == 0 {
		w.resync = true
	}
	w.hint = max(w.hint, rev)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default: // a read is already due
	}
}

// takeResync says whether the wake asks for a full read: a reconnect, or
// a notified revision above the served one (read at once, without asking
// the revision row first).
func (w *watch) takeResync() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.resync || w.hint > w.served
	w.resync = false
	return r
}

// interval is the next wait between polls, jittered by ±10 %. After a
// failed read it is the fast interval, notifier or not: a notifier that
// reconnected may already have asked for the read that failed, and the
// connections the pool hands out after a restart can be dead ones.
func (w *watch) interval() time.Duration {
	d := w.s.pollInterval(w.notifying)
	if w.failures > 0 || w.stale {
		d = min(d, w.s.pollInterval(false))
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// refresh reads the store and delivers what changed; full reads the flags
// even when the revision row says nothing changed.
func (w *watch) refresh(ctx context.Context, full bool) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	s := w.s
	if err := s.ensure(ctx); err != nil {
		w.outage(ctx, err)
		return
	}
	if !full && w.last != nil && !w.stale {
		rev, err := s.revision(ctx)
		if err != nil {
			w.outage(ctx, err)
			return
		}
		if rev == w.served || rev == w.refused {
			w.failures = 0
			return
		}
	}
	c, err := s.read(ctx, s.db)
	if err != nil {
		w.outage(ctx, err)
		return
	}
	if w.failures > 0 {
		s.cfg.logger.Info("flagstore: the database answers again", "failed reads", w.failures, "revision", c.revision)
	}
	w.failures = 0
	switch {
	case w.last != nil && c.revision < w.served && !w.fromFile:
		// The database is the truth: tables restored from a backup, or
		// emptied and imported again. Keeping the higher revision would
		// hide every later write, whose revisions count up from the lower
		// one, and make this instance report it serves them.
		s.cfg.logger.Warn("flagstore: the store's revision went back (tables restored or recreated?); serving the store's", "store", c.revision, "was serving", w.served)
	case w.last != nil && c.revision == w.served && !w.stale && !w.fromFile:
		return
	}
	set, err := c.set()
	if set == nil {
		if c.revision != w.refused {
			w.refused = c.revision
			s.cfg.logger.Error("flagstore: flag definitions refused; the last good ones keep serving", "revision", c.revision, "err", err)
			w.stale = true
			w.changed(nil, fmt.Errorf("flagstore: revision %d refused: %w", c.revision, err))
		}
		return
	}
	if err != nil {
		s.cfg.logger.Warn("flagstore: flags of the store are invalid (changed outside rollsafe?)", "revision", c.revision, "err", err)
	}
	w.deliver(set, err, c.revision)
	w.fromFile = false
	w.saveCache(c)
}

func (w *watch) deliver(set *flags.Set, err error, rev int64) {
	w.last, w.served, w.stale = set, rev, false
	w.changed(set, err)
}

// outage handles a failed read: the first failure is delivered as an
// error (the last good flags keep serving), and before any flags were
// served the cache file stands in for the database.
func (w *watch) outage(ctx context.Context, err error) {
	w.failures++
	log := w.s.cfg.logger
	if w.last == nil && w.failures == 1 {
		if set, rev, ok := w.loadCache(); ok {
			log.Warn("flagstore: the database is unreachable; serving the cache file", "file", w.s.cfg.cacheFile, "revision", rev, "err", err)
			w.deliver(set, nil, rev)
			w.fromFile = true
		}
	}
	if w.stale {
		if w.failures%20 == 0 {
			log.Warn("flagstore: the database is still unreachable", "failed reads", w.failures, "err", err)
		}
		return
	}
	w.stale = true
	if w.last == nil {
		log.Error("flagstore: the database is unreachable and no flags were served yet", "err", err)
		w.changed(nil, fmt.Errorf("flagstore: no flags yet: %w", err))
		return
	}
	log.Error("flagstore: the database is unreachable; the last good flags keep serving", "revision", w.served, "err", err)
	w.changed(nil, fmt.Errorf("flagstore: database unreachable, serving revision %d: %w", w.served, err))
}

// cacheFile is what WithCacheFile's file holds.
type cacheFile struct {
	Revision    int64           `json:"revision"`
	Saved       time.Time       `json:"saved"`
	Definitions json.RawMessage `json:"definitions"` // a flagd document
}

// saveCache writes c to the cache file: a temporary file, synced, renamed
// over the old one, so that a crash leaves the old file or the new one.
func (w *watch) saveCache(c *contents) {
	path := w.s.cfg.cacheFile
	if path == "" {
		return
	}
	data, err := json.Marshal(cacheFile{Revision: c.revision, Saved: w.s.cfg.now().UTC(), Definitions: c.document(nil)})
	if err == nil {
		err = writeAtomic(path, data)
	}
	if err != nil {
		w.s.cfg.logger.Warn("flagstore: cache file not written", "file", path, "err", err)
	}
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// loadCache reads the cache file; false when there is none or it cannot
// be used (then the reason is logged).
func (w *watch) loadCache() (*flags.Set, int64, bool) {
	path := w.s.cfg.cacheFile
	if path == "" {
		return nil, 0, false
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, 0, false
	}
	var cf cacheFile
	if err == nil {
		err = json.Unmarshal(data, &cf)
	}
	var set *flags.Set
	if err == nil {
		set, err = flags.Parse(cf.Definitions)
	}
	if set == nil {
		w.s.cfg.logger.Error("flagstore: cache file unusable", "file", path, "err", err)
		return nil, 0, false
	}
	return set.WithRevision(cf.Revision), cf.Revision, true
}

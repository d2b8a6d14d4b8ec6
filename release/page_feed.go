package release

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/httpjson"
)

// versions say where the flags, the releases and the fleet are: a page
// whose state has other versions reads it again.
type versions struct {
	// Flags is the store's revision.
	Flags int64 `json:"flags"`
	// Releases is the id of the ledger's latest event: every change of a
	// release writes one.
	Releases int64 `json:"releases"`
	// Instances sums up the registry: who is there, ready or not, and the
	// revision and release each serves (not the heartbeats' times).
	Instances string `json:"instances"`
}

// feed is the one watch of the store and look at the ledger and registry
// that every open page shares. It runs while at least one page listens.
type feed struct {
	c     *Controller
	store *flagstore.Store
	poll  time.Duration

	mu     sync.Mutex
	subs   map[chan versions]struct{}
	now    versions
	read   int  // the parts of now read since the feed started
	known  bool // every part of now has been read since the feed started
	gen    int  // which run of the feed may publish: a run that was stopped may still be ending
	cancel context.CancelFunc
	done   chan struct{} // closed when the running feed's goroutines end
	closed chan struct{} // closed by close, and made anew when a page listens after it
}

func newFeed(c *Controller, store *flagstore.Store, poll time.Duration) *feed {
	return &feed{c: c, store: store, poll: poll, subs: map[chan versions]struct{}{}, closed: make(chan struct{})}
}

// versionsKnown returns the versions, and whether the running feed has
// read them whole.
func (f *feed) versionsKnown() (versions, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now, f.known && f.cancel != nil
}

// subscribe returns a channel that receives the versions whenever they
// change (the latest only, when the reader is slow), the versions now if
// known, and a channel closed when the feed is closed.
func (f *feed) subscribe() (ch chan versions, now versions, known bool, closed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch = make(chan versions, 1)
	f.subs[ch] = struct{}{}
	if f.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f.gen++
		f.cancel, f.read, f.known, f.done = cancel, 0, false, make(chan struct{})
		go f.run(ctx, f.gen, f.done)
	}
	select {
	case <-f.closed:
		f.closed = make(chan struct{})
	default:
	}
	return ch, f.now, f.known, f.closed
}

// unsubscribe stops sending to ch; the last page to leave stops the feed.
func (f *feed) unsubscribe(ch chan versions) {
	f.mu.Lock()
	delete(f.subs, ch)
	var done chan struct{}
	if len(f.subs) == 0 && f.cancel != nil {
		f.cancel()
		f.cancel, done = nil, f.done
	}
	f.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (f *feed) close() {
	f.mu.Lock()
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	f.mu.Unlock()
}

// The parts of the versions, read apart: the flags by the store's watch,
// the rest by each look.
const (
	partFlags = 1 << iota
	partLook
	partsAll = partFlags | partLook
)

// publish updates a part of the versions and sends them to every page
// when they changed and every part has been read. A run of the feed that
// is no longer the current one publishes nothing.
func (f *feed) publish(gen, part int, update func(*versions)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen != f.gen || f.cancel == nil {
		return
	}
	next := f.now
	update(&next)
	f.read |= part
	if next == f.now && f.known || f.read != partsAll {
		f.now = next
		return
	}
	f.now, f.known = next, true
	for ch := range f.subs {
		select {
		case <-ch:
		default:
		}
		ch <- next
	}
}

func (f *feed) run(ctx context.Context, gen int, done chan struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	defer wg.Wait()
	// The watch reads the store once at its start, then on every change.
	// A failed read counts as read, the revision unchanged: the releases'
	// versions still go out while the store cannot be read.
	wg.Go(func() {
		_ = f.store.Watch(ctx, func(set *flags.Set, err error) {
			f.publish(gen, partFlags, func(v *versions) {
				if err == nil && set != nil {
					v.Flags = set.Revision()
				}
			})
		})
	})
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		f.look(ctx, gen)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// look reads the ledger's latest event and sums up the registry; a failed
// read keeps the last versions (the page shows what it has) and is logged.
func (f *feed) look(ctx context.Context, gen int) {
	// A failed look counts as read, the versions unchanged: the flags'
	// versions still go out while the ledger or the registry cannot be read.
	id, err := f.c.lastEventID(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.c.cfg.logger.WarnContext(ctx, "release: page feed: read the ledger", "err", err)
		}
		f.publish(gen, partLook, func(*versions) {})
		return
	}
	sum := ""
	if f.c.instances != nil {
		ins, err := f.c.instances.List(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.c.cfg.logger.WarnContext(ctx, "release: page feed: read the registry", "err", err)
			}
			f.publish(gen, partLook, func(*versions) {})
			return
		}
		lines := make([]string, 0, len(ins))
		for _, in := range ins {
			rev := "-"
			if in.FlagsRevision != nil {
				rev = strconv.FormatInt(*in.FlagsRevision, 10)
			}
			lines = append(lines, fmt.Sprintf("%s\x00%s\x00%t\x00%s\x00%s", in.ID, in.ReleaseID, in.Ready, rev, in.Version))
		}
		slices.Sort(lines)
		h := fnv.New64a()
		for _, l := range lines {
			h.Write([]byte(l))
			h.Write([]byte{'\n'})
		}
		sum = fmt.Sprintf("%d-%x", len(lines), h.Sum64())
	}
	f.publish(gen, partLook, func(v *versions) { v.Releases, v.Instances = id, sum })
}

// lastEventID is the id of the ledger's latest event, 0 when it is empty.
func (c *Controller) lastEventID(ctx context.Context) (int64, error) {
	if err := c.ensure(ctx); err != nil {
		return 0, err
	}
	var id *int64
	if err := c.db.QueryRowContext(ctx, `SELECT MAX(id) FROM `+tableEvents).Scan(&id); err != nil {
		return 0, fmt.Errorf("release: read the latest event: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// keepAlive is how often an idle stream sends a "ping" event, so that
// proxies do not cut it and the page knows it is alive.
const keepAlive = 15 * time.Second

// serveEvents streams the versions as server-sent events named "versions"
// (the data is a JSON object of them), one when the stream opens and one
// at each change, with a "ping" every [keepAlive] between, to a caller
// that may read the releases or the flags.
func (p *Page) serveEvents(w http.ResponseWriter, r *http.Request) {
	can := p.reads(r)
	if !can.releases && !can.flags {
		httpjson.Write(w, http.StatusForbidden, errorBody{Error: "release: page: you may read neither the releases nor the flags"})
		return
	}
	ch, now, known, closed := p.feed.subscribe()
	defer p.feed.unsubscribe(ch)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Each write has its deadline: a stream outlives the server's write
	// timeout, and a client that stops reading is cut off. Not every
	// writer can set one; those keep the server's.
	write := func(format string, args ...any) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	// Only a change of what the caller may read is sent: the others'
	// timing is not its to know.
	var sent versions
	first := true
	send := func(v versions) error {
		v = v.visible(can)
		if !first && v == sent {
			return nil
		}
		first, sent = false, v
		b, _ := json.Marshal(v) // versions always marshal
		return write("event: versions\ndata: %s\n\n", b)
	}
	if err := write("retry: 2000\n\n"); err != nil {
		return
	}
	if known && send(now) != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-closed:
			return
		case v := <-ch:
			if send(v) != nil {
				return
			}
		case <-tick.C:
			if write("event: ping\ndata: {}\n\n") != nil {
				return
			}
		}
	}
}

// streamWriteTimeout is the longest one write to an event stream may take.
const streamWriteTimeout = 10 * time.Second

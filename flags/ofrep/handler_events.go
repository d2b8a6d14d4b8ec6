package ofrep

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

var (
	errStreamsFull   = errors.New("too many event streams")
	errStreamsClosed = errors.New("the handler is closed")
)

// hub fans the provider's changes out to the open event streams. It knows
// a change from the provider's revision (read every revisionPoll while a
// stream is open) or from a CONFIGURATION_CHANGED event (WithEvents).
type hub struct {
	h *Handler

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	closed  bool
	done    chan struct{} // closed by close: every stream ends
	token   string        // the flag configuration last announced
	changes int64         // CONFIGURATION_CHANGED events of a provider without revisions
	stop    chan struct{} // stops the revision poll; nil while it is not running

	wg sync.WaitGroup // the streams and the revision poll
}

type subscriber struct {
	wake chan struct{} // one pending wake-up; more are the same
}

func newHub(h *Handler) *hub {
	g := &hub{h: h, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
	g.token = g.currentToken()
	return g
}

// streams reports whether the handler can tell clients of changes, and so
// offers an event stream.
// A provider with a Revision method that reports 0 (a flags.Provider
// over a file, or not yet initialised) has no revision to watch: offering a
// stream then would promise changes that are never sent, and a client that
// trusts the stream would stop polling.
func (h *Handler) streams() bool {
	return h.cfg.events != nil || (h.rev != nil && h.rev.Revision() > 0)
}

// currentToken names the flag configuration served now: "r" and its
// revision, or, without one, "c" and a count of the changes heard since
// the handler started (a count that a restart resets: a client then
// refetches once more than it needs to, never once less).
func (g *hub) currentToken() string {
	if g.h.rev != nil {
		if rev := g.h.rev.Revision(); rev > 0 {
			return "r" + strconv.FormatInt(rev, 10)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return "c" + strconv.FormatInt(g.changes, 10)
}

// configurationChanged is the provider's CONFIGURATION_CHANGED event.
func (g *hub) configurationChanged() {
	if g.h.rev != nil {
		if rev := g.h.rev.Revision(); rev > 0 {
			g.announce("r" + strconv.FormatInt(rev, 10))
			return
		}
	}
	g.mu.Lock()
	g.changes++
	n := g.changes
	g.mu.Unlock()
	g.announce("c" + strconv.FormatInt(n, 10))
}

// announce wakes every stream for configuration token, once per token.
func (g *hub) announce(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if token == g.token {
		return
	}
	g.token = token
	for s := range g.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (g *hub) subscribe() (*subscriber, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errStreamsClosed
	}
	if len(g.subs) >= g.h.cfg.maxSubscribers {
		return nil, errStreamsFull
	}
	s := &subscriber{wake: make(chan struct{}, 1)}
	g.subs[s] = struct{}{}
	g.wg.Add(1)
	if g.h.rev != nil && g.stop == nil {
		// No stream was open: nobody missed the revisions since the last
		// poll, and the first poll must not announce the one served now.
		if rev := g.h.rev.Revision(); rev > 0 {
			g.token = "r" + strconv.FormatInt(rev, 10)
		}
		g.stop = make(chan struct{})
		g.wg.Add(1)
		go g.poll(g.stop)
	}
	return s, nil
}

func (g *hub) unsubscribe(s *subscriber) {
	g.mu.Lock()
	delete(g.subs, s)
	if len(g.subs) == 0 && g.stop != nil {
		close(g.stop)
		g.stop = nil
	}
	g.mu.Unlock()
	g.wg.Done()
}

// poll announces each new revision of the provider until stop is closed.
func (g *hub) poll(stop chan struct{}) {
	defer g.wg.Done()
	t := time.NewTicker(g.h.cfg.revisionPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if rev := g.h.rev.Revision(); rev > 0 {
				g.announce("r" + strconv.FormatInt(rev, 10))
			}
		}
	}
}

// close ends every stream; it reports whether it was the first call.
func (g *hub) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	close(g.done)
	if g.stop != nil {
		close(g.stop)
		g.stop = nil
	}
	return true
}

func (g *hub) wait() { g.wg.Wait() }

// serveEvents answers GET /ofrep/v1/events with a text/event-stream that
// sends a refetchEvaluation event at each change, a comment every
// keep-alive interval, and, to a client that reconnects with a
// Last-Event-ID other than the configuration served now, a refetch at
// once: it missed a change while away.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// The mux gives HEAD to the GET route: answer the headers only. A
		// stream written into a HEAD answer would never end, and hold the
		// client's connection and a subscriber slot.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		return
	}
	if !h.streams() {
		writeJSON(w, http.StatusNotFound, ErrorResponse{ErrorDetails: "event stream: the provider reports no changes (see WithEvents)"})
		return
	}
	sub, err := h.hub.subscribe()
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.cfg.retry/time.Second))))
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{ErrorDetails: "event stream: " + err.Error()})
		return
	}
	defer h.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx would hold the events back
	w.WriteHeader(http.StatusOK)

	write := func(s string) bool {
		// A deadline per write: a client that stopped reading is dropped
		// instead of holding this goroutine (and Close) forever. Servers
		// that cannot set one (httptest recorders) write without.
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.writeLimit))
		if _, err := w.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The first block carries no data, so the client dispatches no event,
	// but its id becomes the client's Last-Event-ID: a client that loses
	// the stream before any change still tells, when it reconnects, which
	// configuration it had.
	token := h.hub.currentToken()
	first := fmt.Sprintf("retry: %d\nid: %s\n\n", h.cfg.retry.Milliseconds(), token)
	if last := r.Header.Get("Last-Event-ID"); last != "" && last != token {
		first += refetchEvent(token)
	}
	if !write(first) {
		return
	}
	keepAlive := time.NewTicker(h.cfg.keepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.hub.done:
			return
		case <-sub.wake:
			if !write(refetchEvent(h.hub.announced())) {
				return
			}
		case <-keepAlive.C:
			if !write(": keep-alive\n\n") {
				return
			}
		}
	}
}

// announced is the configuration token last announced.
func (g *hub) announced() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token
}

// refetchEvent is one SSE event telling the client to fetch again; its id
// is the configuration token, which the client's EventSource sends back as
// Last-Event-ID when it reconnects.
func refetchEvent(token string) string {
	data, _ := json.Marshal(StreamEvent{Type: EventTypeRefetch, ETag: token}) // two strings always encode
	return "id: " + token + "\ndata: " + string(data) + "\n\n"
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ratelimit "golang.org/x/time/rate"
)

// The traffic the load sends.
const (
	users      = 10_000 // distinct users (X-User, the flags' targeting key)
	writeShare = 0.3    // of the requests, the share that are POST /orders
	maxPending = 1024   // requests in flight at most; past it, the load waits
	reqTimeout = 10 * time.Second
)

// result is one request and what came back.
type result struct {
	at       time.Duration // when it was sent, from the start of the load
	took     time.Duration
	instance int    // index into the fleet
	write    bool   // POST /orders; else GET /summary
	orderID  int64  // the write's id
	status   int    // 0: no answer
	path     string // X-Code-Path: "new", "old" or "" (no answer)
	err      error  // transport error, when no answer
}

// ok says whether the request succeeded.
func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

// load sends requests at a steady rate over the live instances and keeps
// every result.
type load struct {
	client *http.Client
	fleet  []*instance
	start  time.Time
	rps    int
	nextID atomic.Int64
	next   atomic.Uint64 // round robin
	// failedNew is set once a call of the new path has failed.
	failedNew atomic.Bool

	mu      sync.Mutex
	results []result
}

// newLoad returns the load; its writes take the ids after lastID.
func newLoad(fleet []*instance, rps int, start time.Time, lastID int64) *load {
	l := &load{
		client: &http.Client{Timeout: reqTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		}},
		fleet: fleet, start: start, rps: rps,
	}
	l.nextID.Store(lastID)
	return l
}

// run sends requests until ctx ends and waits for those in flight.
func (l *load) run(ctx context.Context) {
	limiter := ratelimit.NewLimiter(ratelimit.Limit(l.rps), 1)
	pending := make(chan struct{}, maxPending)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := limiter.Wait(ctx); err != nil {
			return
		}
		select {
		case pending <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-pending }()
			r := l.send()
			if r.path == "new" && !r.ok() {
				l.failedNew.Store(true)
			}
			l.mu.Lock()
			l.results = append(l.results, r)
			l.mu.Unlock()
		})
	}
}

// send makes one request: to the next live instance, or, when an
// instance refuses the connection (it is gone), to the one after it. A
// request that reached an instance is never sent twice.
func (l *load) send() result {
	r := result{at: time.Since(l.start), write: rand.Float64() < writeShare}
	user := fmt.Sprintf("user-%d", rand.IntN(users))
	var body []byte
	if r.write {
		r.orderID = l.nextID.Add(1)
		body = fmt.Appendf(nil, `{"id": %d, "customer": %d, "totalCents": %d}`, r.orderID, 1+rand.IntN(2), rand.IntN(10_000))
	}
	first := int(l.next.Add(1))
	for try := range len(l.fleet) {
		r.instance = (first + try) % len(l.fleet)
		in := l.fleet[r.instance]
		if !in.alive() {
			continue
		}
		start := time.Now()
		r.status, r.path, r.err = l.do(in, user, body)
		r.took = time.Since(start)
		if !errors.Is(r.err, syscall.ECONNREFUSED) {
			break
		}
	}
	if r.status == 0 && r.err == nil {
		r.err = errors.New("no instance alive")
	}
	return r
}

func (l *load) do(in *instance, user string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
	defer cancel()
	method, url := http.MethodGet, in.base+"/summary"
	var rd io.Reader
	if body != nil {
		method, url, rd = http.MethodPost, in.base+"/orders", bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-User", user)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, resp.Header.Get("X-Code-Path"), err // the answer was cut: not a success
	}
	return resp.StatusCode, resp.Header.Get("X-Code-Path"), nil
}

// snapshot returns the results so far, in the order they completed.
func (l *load) snapshot() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.results...)
}

// since returns the results that completed after the first n.
func (l *load) since(n int) ([]result, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.results[n:]...), len(l.results)
}

package ofrep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// snapshot is one bulk answer: what cached mode serves.
type snapshot struct {
	flags  map[string]result
	etag   string
	stream string // the SSE URL to follow; "" when the server offers none
}

// refetchHint is what a refetchEvaluation event carries on to the refetch.
type refetchHint struct {
	etag, lastModified string
}

func (p *Provider) fromCache(key string) result {
	if err := p.gate.fatalErr(); err != nil {
		// As the SDK's FATAL state answers, whichever of its events the
		// SDK handled last (it may handle Init's READY after our ERROR).
		return fail(openfeature.ProviderFatalCode, fmt.Sprintf("flag %q: %v", key, err), err)
	}
	s := p.snap.Load()
	if s == nil {
		if e := p.noSnap.Load(); e != nil {
			return fail(openfeature.ProviderNotReadyCode, "no bulk evaluation yet: "+(*e).Error(), *e)
		}
		return fail(openfeature.ProviderNotReadyCode, "no bulk evaluation yet: the provider is not initialised", nil)
	}
	r, ok := s.flags[key]
	if !ok {
		return fail(openfeature.FlagNotFoundCode, fmt.Sprintf("flag %q not found in the bulk evaluation", key), nil)
	}
	return r
}

// wireBulk is OFREP's bulkEvaluationSuccess.
type wireBulk struct {
	Flags        *[]wireItem   `json:"flags"`
	EventStreams []EventStream `json:"eventStreams"`
}

// fetch sends one bulk evaluation and, on a 200, replaces the snapshot; it
// returns the keys whose answers changed (none for the first answer). A
// 304 keeps the snapshot.
func (p *Provider) fetch(ctx context.Context, hint *refetchHint) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.fetchTimeout)
	defer cancel()
	target := p.evalPrefix
	if hint != nil && (hint.etag != "" || hint.lastModified != "") {
		q := url.Values{}
		if hint.etag != "" {
			q.Set("flagConfigEtag", hint.etag)
		}
		if hint.lastModified != "" {
			q.Set("flagConfigLastModified", hint.lastModified)
		}
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(p.bulkBody))
	if err != nil {
		return nil, p.fetchFailed(fmt.Errorf("build bulk request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	old := p.snap.Load()
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	rep, err := p.send(ctx, req, http.StatusOK, http.StatusNotModified)
	if err != nil {
		return nil, p.fetchFailed(fmt.Errorf("bulk evaluation: %w", err))
	}
	if rep.status == http.StatusNotModified {
		if old == nil {
			return nil, p.fetchFailed(errors.New("bulk evaluation: 304 Not Modified although nothing is cached"))
		}
		return nil, nil
	}
	next, err := p.decodeBulk(rep.body)
	if err != nil {
		return nil, p.fetchFailed(fmt.Errorf("bulk evaluation: %w", err))
	}
	next.etag = rep.header.Get("ETag")
	p.snap.Store(next)
	p.noSnap.Store(nil)
	if old == nil {
		return nil, nil // a first answer is READY, not a change
	}
	return changedKeys(old, next), nil
}

func (p *Provider) fetchFailed(err error) error {
	if p.snap.Load() == nil {
		p.noSnap.Store(&err)
	}
	return err
}

func (p *Provider) decodeBulk(body []byte) (*snapshot, error) {
	var b wireBulk
	if err := strictDecode(body, &b); err != nil {
		return nil, fmt.Errorf("malformed response: %w", err)
	}
	if b.Flags == nil {
		return nil, errors.New("malformed response: no flags array")
	}
	s := &snapshot{flags: make(map[string]result, len(*b.Flags))}
	for i := range *b.Flags {
		it := &(*b.Flags)[i]
		if it.Key == "" {
			return nil, fmt.Errorf("malformed response: flag %d has no key", i)
		}
		s.flags[it.Key] = it.result(it.Key)
	}
	for _, es := range b.EventStreams {
		if es.Type != "sse" {
			continue // unknown types are ignored, as the spec requires
		}
		u, err := p.streamURL(es.URL, es.Endpoint)
		if err != nil {
			p.cfg.logger.Warn("ofrep event stream entry ignored", "err", err)
			continue
		}
		s.stream = u
		break
	}
	return s, nil
}

// streamURL resolves an eventStreams entry: a url, or an endpoint whose
// origin defaults to the base URL's.
func (p *Provider) streamURL(raw string, ep *EventStreamEndpoint) (string, error) {
	switch {
	case raw != "" && ep != nil:
		return "", errors.New("event stream has both url and endpoint")
	case raw != "":
		u, err := p.origin.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return "", errors.New("event stream url is not an http(s) URL")
		}
		return u.String(), nil
	case ep != nil:
		if !strings.HasPrefix(ep.RequestURI, "/") {
			return "", errors.New("event stream endpoint's requestUri does not start with /")
		}
		origin := p.origin
		if ep.Origin != "" {
			o, err := url.Parse(ep.Origin)
			if err != nil || (o.Scheme != "http" && o.Scheme != "https") || o.Host == "" {
				return "", errors.New("event stream endpoint's origin is not an http(s) origin")
			}
			origin = &url.URL{Scheme: o.Scheme, Host: o.Host}
		}
		u, err := url.Parse(origin.String() + ep.RequestURI)
		if err != nil {
			return "", errors.New("event stream endpoint does not make a URL")
		}
		return u.String(), nil
	}
	return "", errors.New("event stream has neither url nor endpoint")
}

func changedKeys(old, next *snapshot) []string {
	var keys []string
	for k, r := range next.flags {
		if o, ok := old.flags[k]; !ok || !sameResult(o, r) {
			keys = append(keys, k)
		}
	}
	for k := range old.flags {
		if _, ok := next.flags[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// streamMsg is what the stream goroutine tells the loop.
type streamMsg int

const (
	streamUp    streamMsg = iota + 1 // connected: refetch, events may have been missed
	streamDown                       // a connection attempt failed
	streamFatal                      // 401 or 403
)

// run follows changes in cached mode until ctx ends or the server refuses
// the credentials; it owns the stream goroutine. fetchOK says whether
// Init's fetch succeeded.
func (p *Provider) run(ctx context.Context, fetchOK bool) {
	ready := fetchOK // what the SDK believes: READY after Init, ERROR otherwise
	streamOK := true
	var (
		streamURL    string
		stopStream   context.CancelFunc = func() {}
		streamDone                      = closedChan
		refetch                         = make(chan refetchHint, 1)
		status                          = make(chan streamMsg, 1)
		failures     int
		retry        *time.Timer
		poll         *time.Ticker
		pollInterval time.Duration
	)
	defer func() {
		stopStream()
		<-streamDone
		if retry != nil {
			retry.Stop()
		}
		if poll != nil {
			poll.Stop()
		}
	}()
	// follow (re)starts the stream and the poll to suit the snapshot.
	follow := func() {
		s := p.snap.Load()
		want := ""
		if s != nil {
			want = s.stream
		}
		if want != streamURL {
			stopStream()
			<-streamDone
			streamURL, streamOK = want, true
			stopStream, streamDone = func() {}, closedChan
			if want != "" {
				sctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				stopStream, streamDone = cancel, done
				go func() {
					defer close(done)
					p.follow(sctx, want, refetch, status)
				}()
			}
		}
		interval := p.cfg.poll
		if interval == 0 && streamURL == "" {
			interval = DefaultPollInterval
		}
		if interval != pollInterval {
			if poll != nil {
				poll.Stop()
				poll = nil
			}
			if interval > 0 {
				poll = time.NewTicker(interval)
			}
			pollInterval = interval
		}
	}
	announce := func() {
		healthy := p.snap.Load() != nil && failures == 0 && (streamURL == "" || streamOK)
		switch {
		case healthy && !ready:
			p.emit(openfeature.ProviderReady, "flags fetched and followed", nil, "")
			ready = true
		case !healthy && ready:
			p.emit(openfeature.ProviderStale, "cached flags may be out of date: changes cannot be followed", nil, "")
			ready = false
		}
	}
	doFetch := func(hint *refetchHint) bool {
		changed, err := p.fetch(ctx, hint)
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				p.fatal(err)
				return false
			}
			failures++
			p.cfg.logger.Warn("ofrep bulk evaluation failed; the cache keeps serving", "err", err, "failures", failures)
			delay := p.backoff(failures, 0)
			if u := p.gate.until.Load(); u != 0 {
				delay = max(delay, time.Until(time.Unix(0, u)))
			}
			if retry == nil {
				retry = time.NewTimer(delay)
			} else {
				retry.Reset(delay)
			}
			announce()
			return true
		}
		failures = 0
		if retry != nil {
			retry.Stop()
		}
		follow()
		announce()
		if len(changed) > 0 {
			p.emit(openfeature.ProviderConfigChange, "flag answers changed", changed, "")
		}
		return true
	}
	if fetchOK {
		follow()
	} else {
		failures = 1
		retry = time.NewTimer(p.backoff(1, 0))
	}
	for {
		var retryC, pollC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		if poll != nil {
			pollC = poll.C
		}
		select {
		case <-ctx.Done():
			return
		case <-retryC:
			if !doFetch(nil) {
				return
			}
		case <-pollC:
			if !doFetch(nil) {
				return
			}
		case h := <-refetch:
			if !doFetch(&h) {
				return
			}
		case m := <-status:
			switch m {
			case streamFatal:
				p.fatal(p.gate.fatalErr())
				return
			case streamDown:
				streamOK = false
				announce()
			case streamUp:
				streamOK = true
				if !doFetch(nil) {
					return
				}
			}
		}
	}
}

// fatal announces a refusal of the credentials once.
func (p *Provider) fatal(err error) {
	if err == nil {
		err = ErrUnauthorized
	}
	p.gate.becomeFatal(err)
	p.cfg.logger.Error("ofrep server refused the credentials; no further request until Init", "err", err)
	p.emit(openfeature.ProviderError, err.Error(), nil, openfeature.ProviderFatalCode)
}

// backoff is the delay before attempt n (1, 2, ...): min doubled n-1
// times, at most max, drawn between half and all of it. floor, when
// larger than min (a stream's retry field), replaces min.
func (p *Provider) backoff(n int, floor time.Duration) time.Duration {
	d := max(p.cfg.backoffMin, min(floor, p.cfg.backoffMax))
	for i := 1; i < n && d < p.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// lastModified renders an event's lastModified (a number of seconds or a
// string) for the flagConfigLastModified query parameter.
func lastModified(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

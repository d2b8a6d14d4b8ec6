package ofrep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// gate holds what stops requests before they are sent: a Retry-After not
// yet passed, and a fatal refusal of the credentials. Reading it costs two
// atomic loads, since every dynamic evaluation does.
type gate struct {
	until atomic.Int64 // Unix nanoseconds before which nothing is sent
	fatal atomic.Pointer[error]
}

func (g *gate) reset() {
	g.until.Store(0)
	g.fatal.Store(nil)
}

func (g *gate) fatalErr() error {
	if e := g.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// check returns why no request may be sent now, or nil.
func (g *gate) check() error {
	if err := g.fatalErr(); err != nil {
		return err
	}
	if u := g.until.Load(); u != 0 {
		if wait := time.Until(time.Unix(0, u)); wait > 0 {
			return fmt.Errorf("%w: no request for another %v", ErrRateLimited, wait.Round(time.Millisecond))
		}
	}
	return nil
}

// block stops requests until t, unless a later Retry-After already does.
func (g *gate) block(t time.Time) {
	n := t.UnixNano()
	for {
		old := g.until.Load()
		if old >= n || g.until.CompareAndSwap(old, n) {
			return
		}
	}
}

// becomeFatal records a 401 or 403; it reports whether this was the first,
// so that one ERROR event is sent, not one per request in flight.
func (g *gate) becomeFatal(err error) bool {
	return g.fatal.CompareAndSwap(nil, &err)
}

// reply is a response read whole (up to the cap).
type reply struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request unless the gate forbids it, and reads the answer
// up to the size cap. A 429 closes the gate until its Retry-After; a 401
// or 403 is ErrUnauthorized, which the caller records (gate.becomeFatal)
// and announces; both come back as errors, as does every status the
// caller did not list in ok.
func (p *Provider) send(ctx context.Context, req *http.Request, ok ...int) (reply, error) {
	if err := p.gate.check(); err != nil {
		return reply{}, err
	}
	for name, values := range p.cfg.header {
		req.Header[name] = values
	}
	resp, err := p.cfg.client.Do(req.WithContext(ctx))
	if err != nil {
		return reply{}, redactURL(err)
	}
	defer resp.Body.Close()
	rep := reply{status: resp.StatusCode, header: resp.Header}
	if resp.ContentLength > p.cfg.maxBody {
		return rep, fmt.Errorf("%w: %d bytes announced, at most %d read", ErrResponseTooLarge, resp.ContentLength, p.cfg.maxBody)
	}
	// Reading one byte past the cap tells a body at the cap from a larger
	// one; a larger one is abandoned there, and closing it drops the
	// connection instead of reading the rest.
	rep.body, err = io.ReadAll(io.LimitReader(resp.Body, p.cfg.maxBody+1))
	if err != nil {
		return rep, fmt.Errorf("read response (status %d): %w", resp.StatusCode, redactURL(err))
	}
	if int64(len(rep.body)) > p.cfg.maxBody {
		return rep, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, p.cfg.maxBody)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		p.gate.block(time.Now().Add(wait))
		return rep, fmt.Errorf("%w: 429, retry after %v", ErrRateLimited, wait)
	case http.StatusUnauthorized, http.StatusForbidden:
		return rep, fmt.Errorf("%w: status %d", ErrUnauthorized, resp.StatusCode)
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return rep, nil
		}
	}
	return rep, fmt.Errorf("status %d%s", resp.StatusCode, details(rep.body))
}

// details is the errorDetails of an error body, for a message.
func details(body []byte) string {
	var b struct {
		ErrorCode    string `json:"errorCode"`
		ErrorDetails string `json:"errorDetails"`
	}
	if json.Unmarshal(body, &b) != nil || (b.ErrorCode == "" && b.ErrorDetails == "") {
		return ""
	}
	return ": " + strings.TrimPrefix(strings.TrimSpace(b.ErrorCode+" "+b.ErrorDetails), " ")
}

// retryAfter reads a Retry-After header: delay-seconds, an HTTP date, or
// (as the OFREP spec's example writes it) an RFC 3339 time. Absent or
// unreadable, it is DefaultRetryAfter; it is never more than MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	d := DefaultRetryAfter
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(s, 0), int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// redactURL removes the query of the URL that net/http puts into its
// errors: an event stream's URL may carry a token in it.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && (u.RawQuery != "" || u.User != nil) {
			u.RawQuery, u.User = "", nil
			return &url.Error{Op: ue.Op, URL: u.String() + "?…", Err: ue.Err}
		}
	}
	return err
}

func requestBody(flat openfeature.FlattenedContext) ([]byte, error) {
	if flat == nil {
		flat = openfeature.FlattenedContext{}
	}
	b, err := json.Marshal(struct {
		Context openfeature.FlattenedContext `json:"context"`
	}{flat})
	if err != nil {
		return nil, fmt.Errorf("context cannot be written as JSON: %w", err)
	}
	return b, nil
}

// evaluateRemote is dynamic-context mode: one request for one flag.
func (p *Provider) evaluateRemote(ctx context.Context, key string, flat openfeature.FlattenedContext) result {
	body, err := requestBody(flat)
	if err != nil {
		return fail(openfeature.InvalidContextCode, fmt.Sprintf("flag %q: %v", key, err), err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.evalPrefix+"/"+url.PathEscape(key), bytes.NewReader(body))
	if err != nil {
		return fail(openfeature.GeneralCode, fmt.Sprintf("flag %q: build request: %v", key, err), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	rep, err := p.send(ctx, req, http.StatusOK, http.StatusBadRequest, http.StatusNotFound)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			if p.gate.becomeFatal(err) {
				p.emit(openfeature.ProviderError, err.Error(), nil, openfeature.ProviderFatalCode)
			}
			return fail(openfeature.ProviderFatalCode, fmt.Sprintf("flag %q: %v", key, err), err)
		}
		return fail(openfeature.GeneralCode, fmt.Sprintf("flag %q: %v", key, err), err)
	}
	switch rep.status {
	case http.StatusOK:
		return decodeSingle(key, rep.body)
	case http.StatusNotFound:
		msg := fmt.Sprintf("flag %q not found", key)
		if r, err := decodeFailure(key, rep.body); err == nil && r.rerr.Error() != "" {
			msg = strings.TrimPrefix(r.rerr.Error(), string(r.code)+": ")
		}
		return fail(openfeature.FlagNotFoundCode, msg, nil)
	default: // 400: an evaluation failure
		r, err := decodeFailure(key, rep.body)
		if err != nil {
			return fail(openfeature.GeneralCode, fmt.Sprintf("flag %q: status 400 with a body that is not an OFREP failure: %v", key, err), err)
		}
		return r
	}
}

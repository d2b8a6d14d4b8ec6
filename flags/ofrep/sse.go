package ofrep

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	event, data, id string
	retry           time.Duration // 0 when the event set none
}

// sseReader parses a text/event-stream as the HTML standard says: lines end
// in LF, CRLF or CR; "data" fields join with LF; a blank line dispatches;
// lines starting with ':' are comments; an event cut off by the end of the
// stream is dropped. Lines and events longer than max are an error
// (ErrResponseTooLarge), so that a stream cannot make it buffer without
// bound.
type sseReader struct {
	r      *bufio.Reader
	max    int
	skipLF bool // the last line ended in CR: a LF right after it belongs to it
	line   []byte
	lastID string
	// retry is the last reconnection time the stream set: the standard
	// applies the field when it is read, whether or not an event follows.
	retry time.Duration
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReader(r), max: max}
}

// next returns the next event; io.EOF at the end of the stream.
func (s *sseReader) next() (sseEvent, error) {
	var (
		ev      sseEvent
		data    strings.Builder
		hasData bool
	)
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !hasData {
				ev = sseEvent{}
				continue
			}
			ev.data = strings.TrimSuffix(data.String(), "\n")
			ev.id = s.lastID
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "data":
			if data.Len()+len(value)+1 > s.max {
				return sseEvent{}, fmt.Errorf("%w: an event's data passes %d bytes", ErrResponseTooLarge, s.max)
			}
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				s.lastID = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 31); err == nil && value != "" && strings.Trim(value, "0123456789") == "" {
				ev.retry = time.Duration(ms) * time.Millisecond
				s.retry = ev.retry
			}
		}
	}
}

func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err // a line cut off by the end is dropped with its event
		}
		if s.skipLF {
			s.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return s.line, nil
		case '\r':
			s.skipLF = true
			return s.line, nil
		}
		if len(s.line) >= s.max {
			return nil, fmt.Errorf("%w: a line passes %d bytes", ErrResponseTooLarge, s.max)
		}
		s.line = append(s.line, b)
	}
}

// follow keeps one event stream open until ctx ends, reconnecting with
// back-off. It tells the loop streamUp at each connection, streamDown when
// a connection attempt fails (a stream that ends and reconnects at once is
// not down), and streamFatal on a 401 or 403, after which it returns.
func (p *Provider) follow(ctx context.Context, target string, refetch chan refetchHint, status chan<- streamMsg) {
	tell := func(m streamMsg) bool {
		select {
		case status <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var (
		attempt int
		down    bool
		floor   time.Duration // the server's retry field
		lastID  string
	)
	for {
		connected, err := p.streamOnce(ctx, target, &lastID, &floor, func() bool {
			down = false
			return tell(streamUp)
		}, refetch)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrUnauthorized) {
			p.gate.becomeFatal(err)
			tell(streamFatal)
			return
		}
		p.cfg.logger.Warn("ofrep event stream ended", "stream", originOf(target), "err", err)
		if connected {
			attempt = 1
		} else {
			attempt++
			if !down {
				down = true
				if !tell(streamDown) {
					return
				}
			}
		}
		delay := p.backoff(attempt, floor)
		if u := p.gate.until.Load(); u != 0 {
			delay = max(delay, time.Until(time.Unix(0, u)))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// streamOnce opens the stream once and reads it until it ends; connected
// reports whether it was opened. Nothing read for the idle timeout ends
// it, as does a connection that is not opened within the fetch timeout.
func (p *Provider) streamOnce(ctx context.Context, target string, lastID *string, floor *time.Duration, up func() bool, refetch chan refetchHint) (connected bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := errors.New("no data")
	watchdog := time.AfterFunc(p.cfg.fetchTimeout, func() { cancel(idle) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, fmt.Errorf("build stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := p.openStream(ctx, req)
	if err != nil {
		if context.Cause(ctx) == idle {
			return false, fmt.Errorf("stream not opened within %v", p.cfg.fetchTimeout)
		}
		return false, err
	}
	defer resp.Body.Close()
	watchdog.Reset(p.cfg.streamIdle)
	if !up() {
		return true, ctx.Err()
	}
	body := readerFunc(func(b []byte) (int, error) {
		n, err := resp.Body.Read(b)
		if n > 0 {
			watchdog.Reset(p.cfg.streamIdle)
		}
		return n, err
	})
	sr := newSSEReader(body, int(min(p.cfg.maxBody, 1<<30)))
	for {
		ev, err := sr.next()
		*lastID = sr.lastID
		if sr.retry > 0 {
			*floor = sr.retry
		}
		if err != nil {
			if context.Cause(ctx) == idle {
				return true, fmt.Errorf("stream silent for %v", p.cfg.streamIdle)
			}
			if errors.Is(err, io.EOF) {
				return true, errors.New("stream closed by the server")
			}
			return true, redactURL(err)
		}
		var data struct {
			Type         string          `json:"type"`
			Etag         string          `json:"etag"`
			LastModified json.RawMessage `json:"lastModified"`
		}
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			p.cfg.logger.Warn("ofrep stream event ignored: data is not JSON", "err", err)
			continue
		}
		if data.Type != "refetchEvaluation" {
			continue // unknown types are ignored, as the spec requires
		}
		h := refetchHint{etag: data.Etag, lastModified: lastModified(data.LastModified)}
		// Only the latest hint matters: replace one the loop has not taken.
		select {
		case refetch <- h:
		default:
			select {
			case <-refetch:
			default:
			}
			select {
			case refetch <- h:
			case <-ctx.Done():
				return true, ctx.Err()
			}
		}
	}
}

// openStream sends the stream request through the gate and checks that an
// event stream came back.
func (p *Provider) openStream(ctx context.Context, req *http.Request) (*http.Response, error) {
	if err := p.gate.check(); err != nil {
		return nil, err
	}
	for name, values := range p.cfg.header {
		req.Header[name] = values
	}
	resp, err := p.cfg.client.Do(req)
	if err != nil {
		return nil, redactURL(err)
	}
	if resp.StatusCode == http.StatusOK {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt == "text/event-stream" {
			return resp, nil
		}
		resp.Body.Close()
		return nil, fmt.Errorf("stream answered Content-Type %q, not text/event-stream", resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w: event stream: status %d", ErrUnauthorized, resp.StatusCode)
	case http.StatusTooManyRequests:
		wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		p.gate.block(time.Now().Add(wait))
		return nil, fmt.Errorf("%w: event stream: 429, retry after %v", ErrRateLimited, wait)
	}
	return nil, fmt.Errorf("event stream: status %d", resp.StatusCode)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// originOf is what may be logged of a stream URL: its path and query may
// carry a token.
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

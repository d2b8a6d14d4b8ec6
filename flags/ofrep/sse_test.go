package ofrep

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, stream string, max int) ([]sseEvent, error) {
	t.Helper()
	r := newSSEReader(strings.NewReader(stream), max)
	var evs []sseEvent
	for {
		ev, err := r.next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	evs, err := readAll(t, ": keep-alive\n\n"+
		"event: message\nid: e1\nretry: 2500\ndata: {\"type\":\ndata:\"x\"}\n\n"+
		"data: crlf\r\n\r\n"+
		"data: cr\r\rdata:no-space\n\n"+
		"id: e2\n\n"+ // no data: not dispatched, but the id sticks
		"data: last\n\n"+
		"data: cut off", 1<<10)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, evs, 5)
	assert.Equal(t, sseEvent{event: "message", id: "e1", retry: 2500 * time.Millisecond, data: "{\"type\":\n\"x\"}"}, evs[0])
	assert.Equal(t, "crlf", evs[1].data)
	assert.Equal(t, "cr", evs[2].data)
	assert.Equal(t, "no-space", evs[3].data)
	assert.Equal(t, sseEvent{id: "e2", data: "last"}, evs[4])
}

func TestSSEReaderBounds(t *testing.T) {
	_, err := readAll(t, "data: "+strings.Repeat("x", 100)+"\n\n", 50)
	require.True(t, errors.Is(err, ErrResponseTooLarge), "%v", err)
	_, err = readAll(t, strings.Repeat("data: xxxxxxxxxx\n", 10)+"\n", 50)
	require.True(t, errors.Is(err, ErrResponseTooLarge), "%v", err)
}

func FuzzSSEReader(f *testing.F) {
	f.Add("data: {\"type\":\"refetchEvaluation\"}\n\n")
	f.Add(": c\r\nretry: 10\r\ndata: a\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := newSSEReader(strings.NewReader(s), 64)
		for range len(s) + 1 {
			ev, err := r.next()
			if err != nil {
				return
			}
			if len(ev.data) > 64 {
				t.Fatalf("event of %d bytes passed the cap", len(ev.data))
			}
		}
		t.Fatal("more events than bytes")
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 2, 20, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              DefaultRetryAfter,
		"junk":                          DefaultRetryAfter,
		"7":                             7 * time.Second,
		"-3":                            0,
		"999999":                        MaxRetryAfter,
		"Fri, 20 Feb 2026 12:00:30 GMT": 30 * time.Second,
		"2026-02-20T12:01:00Z":          time.Minute,
		"2020-01-01T00:00:00Z":          0,
	} {
		assert.Equal(t, want, retryAfter(v, now), v)
	}
}

// A retry field applies when it is read, even in a block with no data (as
// the handler sends it first): the reader keeps it for the reconnection.
func TestSSEReaderKeepsRetryWithoutData(t *testing.T) {
	r := newSSEReader(strings.NewReader("retry: 5000\nid: r3\n\ndata: {\"type\":\"refetchEvaluation\"}\n\n"), 1<<10)
	ev, err := r.next()
	require.NoError(t, err)
	assert.Equal(t, `{"type":"refetchEvaluation"}`, ev.data)
	assert.Equal(t, 5*time.Second, r.retry)
	assert.Equal(t, "r3", r.lastID)
}

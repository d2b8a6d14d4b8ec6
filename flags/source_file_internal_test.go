package flags

import (
	"testing"
	"time"
)

func TestDebounceWaitsForQuietButNotForever(t *testing.T) {
	d := debounce{quiet: 100 * time.Millisecond, max: time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	// Each change pushes the read back by the quiet interval...
	if got := d.change(at(0)); got != 100*time.Millisecond {
		t.Fatalf("first change: wait %v, want 100ms", got)
	}
	if got := d.change(at(50)); got != 100*time.Millisecond {
		t.Fatalf("second change: wait %v, want 100ms", got)
	}
	// ...but never past max after the first change of the burst.
	if got := d.change(at(950)); got != 50*time.Millisecond {
		t.Fatalf("change at 950ms: wait %v, want 50ms", got)
	}
	if got := d.change(at(1200)); got != 0 {
		t.Fatalf("change past the cap: wait %v, want 0", got)
	}
	// A read ends the burst: the next change starts a new one.
	d.done()
	if got := d.change(at(1300)); got != 100*time.Millisecond {
		t.Fatalf("change after a read: wait %v, want 100ms", got)
	}
}

package flags

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// LatencyBuckets is the number of buckets of a [LatencyHistogram]. Bucket 0
// holds calls shorter than 1µs; bucket i (i ≥ 1) holds calls of at least
// 2^(i-1) µs and less than 2^i µs; the last bucket also holds everything
// longer (about 17 minutes and more).
const LatencyBuckets = 32

// LatencyHistogram counts calls by duration in power-of-two buckets of
// microseconds (see [LatencyBuckets]). Its zero value is empty.
type LatencyHistogram struct {
	Counts [LatencyBuckets]uint64
}

// BucketUpperBound is the exclusive upper bound of bucket i: 1µs for bucket
// 0, 2^i µs for the others. The last bucket has no bound; its value is
// returned nonetheless.
func BucketUpperBound(i int) time.Duration {
	return time.Duration(uint64(1)<<uint(i)) * time.Microsecond
}

func latencyBucket(d time.Duration) int {
	if d < time.Microsecond {
		return 0
	}
	return min(bits.Len64(uint64(d/time.Microsecond)), LatencyBuckets-1)
}

// Quantile returns the upper bound of the bucket that holds the q-quantile
// (0 ≤ q ≤ 1) of the counted calls: the p99 is Quantile(0.99). It returns 0
// when the histogram is empty, and treats q outside [0, 1] as the nearest
// bound.
func (h LatencyHistogram) Quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(uint64(q*float64(total)+0.5), 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return BucketUpperBound(i)
		}
	}
	return BucketUpperBound(LatencyBuckets - 1)
}

// PathStats are the counts of one path of a [Switch] since it was created.
type PathStats struct {
	// Calls is how many times the path was called, calls still running
	// included.
	Calls uint64
	// Errors is how many of those calls failed: returned an error
	// (a cancelled context's included) or, on the new path, panicked.
	Errors uint64
	// Panics is how many calls of the new path panicked (counted in Errors
	// too). Panics of the old path are not recovered.
	Panics uint64
	// Timed is how many of those calls were timed. Every call is timed
	// while the path's calls take [FastCall] or more; while they take less,
	// one in [FastCallSampling] is, since reading the clock twice would cost
	// a noticeable share of such a call.
	Timed uint64
	// Latency is the sum of the durations of the timed calls.
	Latency time.Duration
	// Histogram counts the timed calls by duration.
	Histogram LatencyHistogram
}

// MeanLatency is Latency / Timed, or 0 before the first timed call.
func (p PathStats) MeanLatency() time.Duration {
	if p.Timed == 0 {
		return 0
	}
	return p.Latency / time.Duration(p.Timed)
}

// ErrorRatio is Errors / Calls, or 0 before the first call.
func (p PathStats) ErrorRatio() float64 {
	if p.Calls == 0 {
		return 0
	}
	return float64(p.Errors) / float64(p.Calls)
}

// SwitchStats is a snapshot of a [Switch]'s counts, taken by
// [Switch.Stats]. The counters are read one by one while calls may run, so
// they can differ by the calls that were in flight.
type SwitchStats struct {
	// Flag is the key of the Switch's flag.
	Flag string
	// State is the Switch's state when the snapshot was taken.
	State SwitchState
	// New and Old count the calls of each path.
	New, Old PathStats
	// Rejected is how many calls whose flag was on took the old path because
	// the breaker was open or half-open and full, or the Switch was killed.
	Rejected uint64
	// Retried is how many failed new-path calls were retried on the old path
	// ([WithRetryOnOld]); they are counted in Old too.
	Retried uint64
	// EvaluationErrors is how many flag evaluations returned an error, each
	// of which sent its call to the old path.
	EvaluationErrors uint64
}

// FastCall and FastCallSampling decide which calls of a path are timed
// (see [PathStats].Timed). At 10µs, two clock reads cost well under 1% of
// a call; below it, timing one call in 8 keeps the figures of a busy path
// close while sparing most of that cost.
const (
	FastCall         = 10 * time.Microsecond
	FastCallSampling = 8
)

// switchCounts are a Switch's counters, in an allocation of their own: the
// OpenTelemetry callback that reports them holds them weakly, so that it
// does not keep the Switch alive.
type switchCounts struct {
	paths [2]pathCounters // by pathName
}

// pathCounters is the lock-free form of PathStats.
type pathCounters struct {
	// calls counts by cause, which is what the calls metric reports.
	calls                 [numCauses]atomic.Uint64
	errors, panics, timed atomic.Uint64
	latency               atomic.Int64
	buckets               [LatencyBuckets]atomic.Uint64
	// fast is set while the last timed call took less than FastCall.
	fast atomic.Bool
}

// begin counts a call and says whether to time it.
func (p *pathCounters) begin(cause callCause) (timed bool) {
	n := p.calls[cause].Add(1)
	return n%FastCallSampling == 0 || !p.fast.Load()
}

// end counts how a call ended; d is its duration when it was timed.
func (p *pathCounters) end(timed bool, d time.Duration, failed, panicked bool) {
	if failed {
		p.errors.Add(1)
	}
	if panicked {
		p.panics.Add(1)
	}
	if !timed {
		return
	}
	p.timed.Add(1)
	p.latency.Add(int64(d))
	p.buckets[latencyBucket(d)].Add(1)
	// Stored on changes only: a write on every call would make concurrent
	// callers contend for the cache line.
	if fast := d < FastCall; p.fast.Load() != fast {
		p.fast.Store(fast)
	}
}

func (p *pathCounters) snapshot() PathStats {
	s := PathStats{
		Errors:  p.errors.Load(),
		Panics:  p.panics.Load(),
		Timed:   p.timed.Load(),
		Latency: time.Duration(p.latency.Load()),
	}
	for i := range p.calls {
		s.Calls += p.calls[i].Load()
	}
	for i := range p.buckets {
		s.Histogram.Counts[i] = p.buckets[i].Load()
	}
	return s
}

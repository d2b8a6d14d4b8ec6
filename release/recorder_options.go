package release

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// RecorderOption configures a [Recorder]; an option given a value it cannot
// use makes [NewRecorder] return an error.
type RecorderOption func(*recorderConfig) error

type recorderConfig struct {
	interval  time.Duration
	retention time.Duration
	clock     func() time.Time
	logger    *slog.Logger
}

// Defaults and bounds of the recorder's options.
const (
	// DefaultSampleInterval is how often a Recorder writes samples unless
	// [WithSampleInterval] says otherwise.
	DefaultSampleInterval = time.Second
	// MinSampleInterval is the shortest interval [WithSampleInterval]
	// accepts.
	MinSampleInterval = 10 * time.Millisecond
	// DefaultRetention is how long a Recorder keeps its samples unless
	// [WithRetention] says otherwise.
	DefaultRetention = 24 * time.Hour
	// MinRetention is the shortest retention [WithRetention] accepts.
	MinRetention = time.Minute
)

func defaultRecorderConfig() recorderConfig {
	return recorderConfig{
		interval:  DefaultSampleInterval,
		retention: DefaultRetention,
		clock:     time.Now,
		logger:    slog.New(slog.DiscardHandler),
	}
}

// WithSampleInterval sets how often [Recorder.Run] writes samples: each row
// covers one interval of one arm. It is at least [MinSampleInterval]; the
// default is [DefaultSampleInterval] (1 s).
func WithSampleInterval(d time.Duration) RecorderOption {
	return func(c *recorderConfig) error {
		if d < MinSampleInterval {
			return fmt.Errorf("sample interval %v is shorter than %v", d, MinSampleInterval)
		}
		c.interval = d
		return nil
	}
}

// WithRetention sets how long samples are kept: now and then (every tenth
// of the retention, at most every 10 minutes) the Recorder deletes its own
// instance's samples that ended longer ago. It is at least [MinRetention];
// the default is [DefaultRetention] (24 h). Samples outlive their release
// by the retention, as its history.
func WithRetention(d time.Duration) RecorderOption {
	return func(c *recorderConfig) error {
		if d < MinRetention {
			return fmt.Errorf("retention %v is shorter than %v", d, MinRetention)
		}
		c.retention = d
		return nil
	}
}

// WithRecorderClock sets the clock that stamps samples (their start_ms and
// end_ms) and decides what retention deletes; the default is time.Now. It
// does not pace [Recorder.Run], whose interval runs on the runtime's timers.
func WithRecorderClock(now func() time.Time) RecorderOption {
	return func(c *recorderConfig) error {
		if now == nil {
			return errors.New("nil clock")
		}
		c.clock = now
		return nil
	}
}

// WithRecorderLogger sets where the Recorder logs failed writes, dropped
// samples and recoveries; the default discards them.
func WithRecorderLogger(l *slog.Logger) RecorderOption {
	return func(c *recorderConfig) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

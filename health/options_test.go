package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/health"
)

func TestNewRefusesInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  health.Option
		want string
	}{
		{name: "nil option", opt: nil, want: "nil option"},
		{name: "nil logger", opt: health.WithLogger(nil), want: "nil logger"},
		{name: "nil meter provider", opt: health.WithMeterProvider(nil), want: "nil meter provider"},
		{name: "nil authorizer", opt: health.WithAuthorizer(nil), want: "nil authorizer"},
		{name: "nil clock", opt: health.WithClock(nil), want: "nil clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := health.New(tt.opt)
			require.ErrorIs(t, err, health.ErrInvalidOption)
			assert.ErrorContains(t, err, tt.want)
			assert.Nil(t, c)
		})
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name    string
		check   string
		fn      func(context.Context) error
		opts    []health.CheckOption
		wantErr error
		want    string
	}{
		{name: "nil func", check: "db", fn: nil, wantErr: health.ErrNilCheck, want: `"db"`},
		{name: "duplicate", check: "existing", fn: ok, wantErr: health.ErrDuplicateCheck, want: `"existing"`},
		{name: "empty name", check: "", fn: ok, wantErr: health.ErrInvalidName},
		{name: "reserved name", check: "draining", fn: ok, wantErr: health.ErrInvalidName, want: "reserved"},
		{name: "quote in name", check: `db"`, fn: ok, wantErr: health.ErrInvalidName, want: `"db\""`},
		{name: "space in name", check: "my db", fn: ok, wantErr: health.ErrInvalidName},
		{name: "non-ASCII name", check: "données", fn: ok, wantErr: health.ErrInvalidName},
		{name: "zero timeout", check: "db", fn: ok, opts: []health.CheckOption{health.WithTimeout(0)}, wantErr: health.ErrInvalidOption, want: "timeout 0s"},
		{name: "negative TTL", check: "db", fn: ok, opts: []health.CheckOption{health.WithCacheTTL(-time.Second)}, wantErr: health.ErrInvalidOption, want: "cache TTL -1s"},
		{name: "zero interval", check: "db", fn: ok, opts: []health.CheckOption{health.WithInterval(0)}, wantErr: health.ErrInvalidOption, want: "interval 0s"},
		{
			name: "TTL and interval", check: "db", fn: ok,
			opts:    []health.CheckOption{health.WithCacheTTL(time.Second), health.WithInterval(time.Second)},
			wantErr: health.ErrInvalidOption, want: "both",
		},
		{name: "colon in measurement", check: "db", fn: ok, opts: []health.CheckOption{health.WithMeasurement("a:b")}, wantErr: health.ErrInvalidOption},
		{
			name: "liveness twice over", check: "db", fn: ok,
			opts:    []health.CheckOption{health.LivenessOnly(), health.LivenessAndReadiness()},
			wantErr: health.ErrInvalidOption, want: "LivenessAndReadiness and LivenessOnly",
		},
		{
			name: "liveness option twice", check: "db", fn: ok,
			opts:    []health.CheckOption{health.LivenessOnly(), health.LivenessOnly()},
			wantErr: health.ErrInvalidOption, want: "want one",
		},
		{name: "nil check option", check: "db", fn: ok, opts: []health.CheckOption{nil}, wantErr: health.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t)
			require.NoError(t, c.Register("existing", ok))
			err := c.Register(tt.check, tt.fn, tt.opts...)
			require.ErrorIs(t, err, tt.wantErr)
			assert.ErrorContains(t, err, tt.want)
			assert.Equal(t, []string{"existing"}, c.Names(health.All), "a refused check was registered")
		})
	}

	t.Run("key of another check", func(t *testing.T) {
		c := newChecker(t)
		require.NoError(t, c.Register("db", ok, health.WithMeasurement("ping")))
		err := c.Register("db:ping", ok)
		require.ErrorIs(t, err, health.ErrDuplicateCheck)
		assert.ErrorContains(t, err, `"db:ping" has the key "db:ping" of check "db"`)
		require.NoError(t, c.Register("flag:checkout", ok), "a colon in a name is fine")
		assert.Equal(t, []string{"db", "flag:checkout"}, c.Names(health.All))
	})
	t.Run("nil measured func", func(t *testing.T) {
		c := newChecker(t)
		require.ErrorIs(t, c.RegisterMeasured("db", nil), health.ErrNilCheck)
	})
	t.Run("unknown check", func(t *testing.T) {
		c := newChecker(t)
		_, err := c.CheckOne(context.Background(), "nope")
		require.ErrorIs(t, err, health.ErrUnknownCheck)
	})
}

func TestStatusAndKindStrings(t *testing.T) {
	assert.Equal(t, "pass", health.Pass.String())
	assert.Equal(t, "warn", health.Warn.String())
	assert.Equal(t, "fail", health.Fail.String())
	assert.Equal(t, "unknown", health.Status(0).String())
	text, err := health.Warn.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "warn", string(text))
	assert.Equal(t, "livez", health.Liveness.String())
	assert.Equal(t, "readyz", health.Readiness.String())
	assert.Equal(t, "healthz", health.All.String())
	assert.Equal(t, "Kind(9)", health.Kind(9).String())
}

func TestInvalidKindReportsAll(t *testing.T) {
	c := newChecker(t)
	require.NoError(t, c.Register("proc", func(context.Context) error { return nil }, health.LivenessOnly()))
	rep := c.Check(context.Background(), health.Kind(0))
	assert.Equal(t, health.All, rep.Kind)
	require.Len(t, rep.Checks, 1)
}

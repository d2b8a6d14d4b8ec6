package version_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/version"
)

// noLeaks fails the test if goroutines it started outlive it. It runs after
// every other cleanup, when the test's HTTP servers have closed.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// peerSet is a discovery whose peers a test changes between rounds.
type peerSet struct {
	mu   sync.Mutex
	urls []string
}

func (s *peerSet) set(urls ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urls = urls
}

func (s *peerSet) Peers(context.Context) ([]version.Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return version.URLs(s.urls...), nil
}

// An incompatible peer that appears after start-up makes the readiness check
// fail at the next round, and its departure makes it pass again. The rounds
// run on the monitor's own timer, in a bubble whose clock the test moves.
func TestMonitorReadinessFollowsPeers(t *testing.T) {
	good := version.Peer{Source: "http://good/", Manifest: []byte(`{"service":"payments","version":"1.4.0"}`)}
	bad := version.Peer{Source: "http://bad/", Manifest: []byte(`{"service":"payments","version":"2.0.0"}`)}
	// Refused at once: no connection outlives the round.
	down := version.Peer{Source: closedURL(t)}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var mu sync.Mutex
		current := []version.Peer{good}
		set := func(ps ...version.Peer) {
			mu.Lock()
			defer mu.Unlock()
			current = ps
		}
		peers := version.DiscoveryFunc(func(context.Context) ([]version.Peer, error) {
			mu.Lock()
			defer mu.Unlock()
			return current, nil
		})
		var lastMu sync.Mutex
		var last version.Report
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		m, err := version.Startup(ctx, orders, peers, version.WithInterval(time.Minute),
			version.WithHTTPClient(client),
			version.WithObserver(func(r version.Report, _ error) {
				lastMu.Lock()
				defer lastMu.Unlock()
				last = r
			}))
		require.NoError(t, err)
		defer m.Close()
		require.NoError(t, m.Check(ctx))
		round := func() version.Report {
			time.Sleep(time.Minute)
			synctest.Wait()
			lastMu.Lock()
			defer lastMu.Unlock()
			return last
		}

		set(good, bad)
		r := round()
		assert.Equal(t, 1, r.Count(version.Incompatible))
		err = m.Check(ctx)
		require.ErrorIs(t, err, version.ErrIncompatible)
		assert.ErrorContains(t, err, `payments 2.0.0 at http://bad/: orders 2.4.0 requires payments ">=1.2.0 <2.0.0" but found 2.0.0`)

		// An unreachable peer does not take us out of rotation.
		set(good, down)
		r = round()
		assert.Equal(t, 1, r.Count(version.Unreachable))
		assert.NoError(t, m.Check(ctx))

		require.NoError(t, m.Close())
		require.NoError(t, m.Close())
		assert.ErrorIs(t, m.Start(ctx), version.ErrClosed)
	})
}

func TestMonitorStartRunsFirstRound(t *testing.T) {
	noLeaks(t)
	bad := servePeer(t, version.Manifest{Service: "users", Version: "4.0.0"})
	rounds := make(chan error, 1)
	m, err := version.NewMonitor(orders, version.Static{bad}, version.WithInterval(time.Hour),
		version.WithObserver(func(_ version.Report, err error) { rounds <- err }))
	require.NoError(t, err)
	assert.NoError(t, m.Check(context.Background()), "nothing is known before the first round")

	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, m.Start(ctx))
	assert.ErrorContains(t, m.Start(ctx), "already started")
	assert.ErrorIs(t, <-rounds, version.ErrIncompatible)
	assert.ErrorIs(t, m.Check(ctx), version.ErrIncompatible)
	cancel() // the context given to Start also stops the goroutine
	require.NoError(t, m.Close())

	_, err = version.NewMonitor(orders, nil)
	assert.ErrorContains(t, err, "nil discovery")
}

// The monitor negotiates on its own timer, once per interval; the bubble's fake clock lets the test watch hours pass.
func TestMonitorInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		rounds := 0
		peers := version.DiscoveryFunc(func(context.Context) ([]version.Peer, error) {
			mu.Lock()
			defer mu.Unlock()
			rounds++
			return []version.Peer{{Source: "p", Manifest: []byte(`{"service":"payments","version":"1.5.0"}`)}}, nil
		})
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return rounds
		}
		m, err := version.Startup(context.Background(), orders, peers, version.WithInterval(time.Minute))
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 1, count(), "Startup's own round; Start does not repeat it")

		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Equal(t, 1, count())
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 2, count())
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 62, count())

		require.NoError(t, m.Close())
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 62, count(), "no round after Close")
	})
}

package tick_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/tick"
)

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick.Every(ctx, time.Minute, func(context.Context) { n.Add(1) })
		}()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Equal(t, int64(0), n.Load(), "no call before the first interval")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, int64(1), n.Load())
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, int64(61), n.Load())
		cancel()
		<-done
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, int64(61), n.Load(), "no call after the context ended")
	})
}

func TestEveryOrWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int64
		wake := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick.EveryOrWake(ctx, time.Minute, wake, func(context.Context) { n.Add(1) })
		}()
		time.Sleep(10 * time.Second)
		wake <- struct{}{}
		synctest.Wait()
		assert.Equal(t, int64(1), n.Load(), "a wake calls at once")
		time.Sleep(50 * time.Second)
		synctest.Wait()
		assert.Equal(t, int64(2), n.Load(), "the interval runs on from its start")
		cancel()
		<-done
	})
}

package tick_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/tick"
)

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick.Every(ctx, time.Minute, func(context.Context) { n++ })
		}()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, n, "no call before the first interval")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 1, n)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 61, n)
		cancel()
		<-done
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, 61, n, "no call after the context ended")
	})
}

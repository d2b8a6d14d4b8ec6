package release_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// A release holds its flags from Start until it ends; FlagHolder says
// which, on every database.
func TestFlagHolder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		store, err := flagstore.New(db.DB, db.Dialect)
		require.NoError(t, err)
		_, err = store.Import(ctx, []byte(`{"flags": {
			"checkout-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
			"banner": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}}}`),
			flagstore.Change{Actor: "setup", Reason: "test"})
		require.NoError(t, err)
		ctl, err := release.NewController(db.DB, db.Dialect, store, nil)
		require.NoError(t, err)

		holder, err := ctl.FlagHolder(ctx, "checkout-v2")
		require.NoError(t, err)
		assert.Empty(t, holder, "no release yet")

		plan, err := release.ParsePlan([]byte(`
id: checkout-release
flags: [{key: checkout-v2, baseline: "off", canary: "on"}]
steps: [{weights: {checkout-v2: 10}}, {weights: {checkout-v2: 100}}]
`))
		require.NoError(t, err)
		_, err = ctl.Start(ctx, plan, "alice")
		require.NoError(t, err)
		holder, err = ctl.FlagHolder(ctx, "checkout-v2")
		require.NoError(t, err)
		assert.Equal(t, "checkout-release", holder)
		holder, err = ctl.FlagHolder(ctx, "banner")
		require.NoError(t, err)
		assert.Empty(t, holder, "a flag of no release")

		require.NoError(t, ctl.Abort(ctx, "checkout-release", "bob", "test"))
		holder, err = ctl.FlagHolder(ctx, "checkout-v2")
		require.NoError(t, err)
		assert.Empty(t, holder, "a release over holds nothing")
	})
}

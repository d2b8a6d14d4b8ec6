package flagstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

const seedFile = `{
  "$evaluators": {"beta": {"in": ["@beta.example", {"var": "email"}]}},
  "flags": {
    "orders-summary-v2": {
      "state": "ENABLED",
      "variants": {"on": true, "off": false},
      "defaultVariant": "off",
      "targeting": {"fractional": [["on", 10], ["off", 90]]}
    },
    "beta-banner": {
      "state": "ENABLED",
      "variants": {"on": true, "off": false},
      "defaultVariant": "off",
      "targeting": {"if": [{"$ref": "beta"}, "on", "off"]}
    }
  }
}`

func newStore(t *testing.T, db *testdb.DB, opts ...flagstore.Option) *flagstore.Store {
	t.Helper()
	s, err := flagstore.New(db.DB, db.Dialect, opts...)
	require.NoError(t, err)
	return s
}

func change(reason string, edits ...flagstore.Edit) flagstore.Change {
	return flagstore.Change{Actor: "alice", Reason: reason, Edits: edits}
}

func TestApplyHistorySnapshot(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		rev, err := s.Revision(ctx)
		require.NoError(t, err)
		assert.Zero(t, rev, "an empty store is at revision 0")

		res, err := s.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed", Base: new(int64(0))})
		require.NoError(t, err)
		assert.Equal(t, flagstore.Result{Revision: 1, Keys: []string{"beta-banner", "orders-summary-v2"}}, res)

		res, err = s.Apply(ctx, flagstore.Change{Actor: "alice", Reason: "errors up", ReleaseID: "r7", Base: new(int64(1)), Edits: []flagstore.Edit{
			flagstore.SetState("orders-summary-v2", flags.Disabled),
			flagstore.SetWeights("orders-summary-v2", flags.Weight{Variant: "on", Weight: 0}, flags.Weight{Variant: "off", Weight: 100}),
			flagstore.Delete("beta-banner"),
		}})
		require.NoError(t, err)
		assert.Equal(t, flagstore.Result{Revision: 2, Keys: []string{"beta-banner", "orders-summary-v2"}}, res)

		cur, err := s.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), cur.Revision())
		assert.Equal(t, []string{"orders-summary-v2"}, cur.Keys())
		st, _ := cur.State("orders-summary-v2")
		assert.Equal(t, flags.Disabled, st)

		// The same change again changes nothing: no revision, no record.
		res, err = s.Apply(ctx, change("again", flagstore.SetState("orders-summary-v2", flags.Disabled)))
		require.NoError(t, err)
		assert.Equal(t, flagstore.Result{Revision: 2}, res)

		hist, err := s.History(ctx, flagstore.Filter{})
		require.NoError(t, err)
		require.Len(t, hist, 2)
		assert.Equal(t, int64(2), hist[0].Revision)
		assert.Equal(t, "alice", hist[0].Actor)
		assert.Equal(t, "errors up", hist[0].Reason)
		assert.Equal(t, "r7", hist[0].ReleaseID)
		assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, hist[0].Keys)
		assert.WithinDuration(t, time.Now(), hist[0].Time, time.Minute)
		var before, after struct {
			Flags map[string]map[string]any `json:"flags"`
		}
		require.NoError(t, json.Unmarshal(hist[0].Before, &before))
		require.NoError(t, json.Unmarshal(hist[0].After, &after))
		assert.Equal(t, "ENABLED", before.Flags["orders-summary-v2"]["state"])
		assert.Equal(t, "DISABLED", after.Flags["orders-summary-v2"]["state"])
		assert.Contains(t, before.Flags, "beta-banner")
		assert.NotContains(t, after.Flags, "beta-banner", "deleted")
		for _, r := range hist {
			_, err := flags.Parse(r.Before)
			assert.NoError(t, err, "before of %d is a flagd document", r.Revision)
			_, err = flags.Parse(r.After)
			assert.NoError(t, err, "after of %d is a flagd document", r.Revision)
		}

		byKey, err := s.History(ctx, flagstore.Filter{Key: "beta-banner", Limit: 1})
		require.NoError(t, err)
		require.Len(t, byKey, 1)
		assert.Equal(t, int64(2), byKey[0].Revision)
		byRelease, err := s.History(ctx, flagstore.Filter{ReleaseID: "r7"})
		require.NoError(t, err)
		require.Len(t, byRelease, 1)
		older, err := s.History(ctx, flagstore.Filter{Before: 2})
		require.NoError(t, err)
		require.Len(t, older, 1)
		assert.Equal(t, "seed", older[0].Reason)

		snap, err := s.Snapshot(ctx, 1)
		require.NoError(t, err)
		assert.Equal(t, int64(1), snap.Revision())
		assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, snap.Keys())
		st, _ = snap.State("orders-summary-v2")
		assert.Equal(t, flags.Enabled, st)
		empty, err := s.Snapshot(ctx, 0)
		require.NoError(t, err)
		assert.Empty(t, empty.Keys())
		_, err = s.Snapshot(ctx, 3)
		require.ErrorIs(t, err, flagstore.ErrUnknownRevision)

		var out bytes.Buffer
		rev, err = s.Export(ctx, &out)
		require.NoError(t, err)
		assert.Equal(t, int64(2), rev)
		exported, err := flags.Parse(out.Bytes())
		require.NoError(t, err)
		assert.Equal(t, []string{"orders-summary-v2"}, exported.Keys())
		assert.Contains(t, out.String(), `"$evaluators"`, "shared rules are kept")
	})
}

func TestApplyRefusesAndWritesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		_, err := s.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
		require.NoError(t, err)

		cases := []struct {
			name string
			c    flagstore.Change
			is   error
			msg  string
		}{
			{"no actor", flagstore.Change{Reason: "x", Edits: []flagstore.Edit{flagstore.Delete("beta-banner")}}, flagstore.ErrInvalidChange, "no actor"},
			{"no reason", flagstore.Change{Actor: "a", Edits: []flagstore.Edit{flagstore.Delete("beta-banner")}}, flagstore.ErrInvalidChange, "no reason"},
			{"no edits", change("x"), flagstore.ErrInvalidChange, "no edits"},
			{"unknown flag", change("x", flagstore.Delete("beta-banner"), flagstore.SetState("nope", flags.Disabled)), flags.ErrNotFound, `"nope"`},
			{"bad definition", change("x", flagstore.Delete("beta-banner"), flagstore.Put("new-flag", json.RawMessage(`{"state":"ENABLED","variants":{"on":true},"defaultVariant":"off"}`))), flags.ErrInvalid, `flag "new-flag": defaultVariant`},
			{"weights of an unknown variant", change("x", flagstore.SetWeights("orders-summary-v2", flags.Weight{Variant: "blue", Weight: 1})), flags.ErrInvalid, `"blue"`},
			{"negative weight", change("x", flagstore.SetWeights("orders-summary-v2", flags.Weight{Variant: "on", Weight: -1})), flags.ErrInvalid, `flag "orders-summary-v2": targeting: the weight of variant "on" is negative`},
			{"weights of a flag without a split", change("x", flagstore.SetWeights("beta-banner", flags.Weight{Variant: "on", Weight: 1})), flags.ErrInvalid, `flag "beta-banner": targeting: holds no fractional split of its own`},
			{"bad state", change("x", flagstore.SetState("beta-banner", "OFF")), flags.ErrInvalid, `flag "beta-banner": state: "OFF" is not ENABLED or DISABLED`},
			{"not JSON", change("x", flagstore.Put("f", json.RawMessage(`{`))), flagstore.ErrInvalidChange, `"f" is not JSON`},
			{"stale base", flagstore.Change{Actor: "a", Reason: "x", Base: new(int64(0)), Edits: []flagstore.Edit{flagstore.Delete("beta-banner")}}, flagstore.ErrConflict, "based on revision 0, the store is at 1"},
		}
		for _, tc := range cases {
			_, err := s.Apply(ctx, tc.c)
			require.ErrorIs(t, err, tc.is, tc.name)
			assert.ErrorContains(t, err, tc.msg, tc.name)
		}
		_, err = s.Import(ctx, []byte(`{"flags":{"a":{"state":"ENABLED","variants":{"x":1},"defaultVariant":"y"}}}`), flagstore.Change{Actor: "a", Reason: "x"})
		require.ErrorIs(t, err, flags.ErrInvalid)

		rev, err := s.Revision(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), rev, "no refused change took a revision")
		hist, err := s.History(ctx, flagstore.Filter{})
		require.NoError(t, err)
		assert.Len(t, hist, 1)
		cur, err := s.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"beta-banner", "orders-summary-v2"}, cur.Keys())

		var conflict *flagstore.ConflictError
		_, err = s.Apply(ctx, flagstore.Change{Actor: "a", Reason: "x", Base: new(int64(0)), Edits: []flagstore.Edit{flagstore.Delete("beta-banner")}})
		require.True(t, errors.As(err, &conflict))
		assert.Equal(t, flagstore.ConflictError{Base: 0, Current: 1}, *conflict)
	})
}

// A change of the set's metadata alone names no flag: its record's keys
// are an empty list, never null, in Go and in JSON.
func TestChangeOfTheSharedPartsAloneNamesNoFlag(t *testing.T) {
	s := newStore(t, testdb.NewSQLite(t))
	ctx := context.Background()
	_, err := s.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	withMetadata := `{"metadata": {"team": "orders"},` + seedFile[1:]
	res, err := s.Import(ctx, []byte(withMetadata), flagstore.Change{Actor: "ci", Reason: "name the team"})
	require.NoError(t, err)
	assert.NotNil(t, res.Keys)
	assert.Empty(t, res.Keys)
	recs, err := s.History(ctx, flagstore.Filter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "name the team", recs[0].Reason)
	require.NotNil(t, recs[0].Keys)
	assert.Empty(t, recs[0].Keys)
	b, err := json.Marshal(recs[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"keys":[]`)
}

// A record written as "keys": null by an earlier release reads as [].
func TestRecordOfAnEarlierReleaseWithNullKeys(t *testing.T) {
	db := testdb.NewSQLite(t)
	s := newStore(t, db)
	ctx := context.Background()
	_, err := s.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `UPDATE rollsafe_flag_changes SET flag_keys = 'null'`)
	require.NoError(t, err)
	recs, err := s.History(ctx, flagstore.Filter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.NotNil(t, recs[0].Keys)
	assert.Empty(t, recs[0].Keys)
}

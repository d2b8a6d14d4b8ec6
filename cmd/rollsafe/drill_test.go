package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// A drill on a healthy fleet, on each database (MariaDB as mysql): every
// instance confirms the kill and the restore, the flag's row is byte for
// byte what it was, and the history holds the drill's two changes.
func TestDrillOnAFleet(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.SQLite, dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			db := testdb.New(t, d)
			fl := startFleet(t, db, 3)
			store := drillStore(t, db)
			before := storedDefinition(t, db, drillFlag)
			base, err := store.Revision(context.Background())
			require.NoError(t, err)

			code, out, errOut := drillCLI(t, context.Background(), db, drillHooks{}, "--flag", drillFlag, "--format", "json", "--reason", "quarterly drill")
			require.Equal(t, exitOK, code, errOut)
			assert.Empty(t, errOut)
			rep := decode[drillReport](t, out)
			assert.True(t, rep.OK)
			assert.True(t, rep.Restored)
			assert.Equal(t, exitOK, rep.ExitCode)
			assert.Equal(t, drillFlag, rep.Flag)
			assert.Equal(t, "drill", rep.Actor)
			assert.Equal(t, drillReason("quarterly drill"), rep.Reason)
			assert.Equal(t, base, rep.BaseRevision)
			assert.JSONEq(t, before, string(rep.Definition))
			require.NotNil(t, rep.KillRevision)
			require.NotNil(t, rep.RestoreRevision)
			assert.Equal(t, base+1, *rep.KillRevision)
			assert.Equal(t, base+2, *rep.RestoreRevision)
			assert.Empty(t, rep.Unconfirmed)
			assert.Empty(t, rep.Error)
			require.Len(t, rep.Instances, 3)
			var slowKill, slowRestore int64
			for _, s := range fl {
				var got *drillInstance
				for _, di := range rep.Instances {
					if di.ID == s.id {
						got = di
					}
				}
				require.NotNil(t, got, "instance %s in the report", s.id)
				assert.Equal(t, s.address, got.Address)
				require.NotNil(t, got.KillMs, s.id)
				require.NotNil(t, got.RestoreMs, s.id)
				assert.GreaterOrEqual(t, *got.KillMs, int64(0))
				assert.Less(t, *got.KillMs, int64(5000))
				assert.GreaterOrEqual(t, *got.RestoreMs, int64(0))
				assert.Less(t, *got.RestoreMs, int64(5000))
				assert.False(t, got.Gone)
				slowKill, slowRestore = max(slowKill, *got.KillMs), max(slowRestore, *got.RestoreMs)
			}
			require.NotNil(t, rep.SlowestKillMs)
			require.NotNil(t, rep.SlowestRestoreMs)
			assert.Equal(t, slowKill, *rep.SlowestKillMs)
			assert.Equal(t, slowRestore, *rep.SlowestRestoreMs)

			assert.Equal(t, before, storedDefinition(t, db, drillFlag), "the restore puts the row back byte for byte")
			recs, err := store.History(context.Background(), flagstore.Filter{Limit: 3})
			require.NoError(t, err)
			require.Len(t, recs, 3)
			for i, want := range []int64{base + 2, base + 1} {
				assert.Equal(t, want, recs[i].Revision)
				assert.Equal(t, "drill", recs[i].Actor)
				assert.Equal(t, drillReason("quarterly drill"), recs[i].Reason)
				assert.Equal(t, []string{drillFlag}, recs[i].Keys)
			}
			killed, ok := flagIn(recs[1].After, drillFlag)
			require.True(t, ok)
			assert.Contains(t, string(killed), `"state":"DISABLED"`)
			restored, ok := flagIn(recs[0].After, drillFlag)
			require.True(t, ok)
			assert.Equal(t, before, string(restored))
			assert.NotEqual(t, "drill", recs[2].Actor, "nothing else written by the drill")

			// The fleet does serve the restore: the registry says so apart
			// from the drill.
			reg, err := fleet.NewRegistry(context.Background(), db.DB, db.Dialect)
			require.NoError(t, err)
			ins, err := reg.List(context.Background())
			require.NoError(t, err)
			require.Len(t, ins, 3)
			for _, in := range ins {
				require.NotNil(t, in.FlagsRevision)
				assert.GreaterOrEqual(t, *in.FlagsRevision, base+2, in.ID)
			}

			// Again, for people: progress, the table, the summary.
			code, out, errOut = drillCLI(t, context.Background(), db, drillHooks{}, "--flag", drillFlag)
			require.Equal(t, exitOK, code, errOut)
			kill, restore := base+3, base+4
			assert.Contains(t, out, fmt.Sprintf("%s killed at revision %d (drill: %s); waiting up to 5s for the fleet\n"+
				"3 instances serve revision %d\n%s restored at revision %d; waiting up to 5s for the fleet\n3 instances serve revision %d\n",
				drillFlag, kill, drillReason("rollback drill"), kill, drillFlag, restore, restore))
			assert.Regexp(t, `(?m)^INSTANCE\s+ADDRESS\s+KILL\s+RESTORE$`, out)
			for _, s := range fl {
				assert.Regexp(t, `(?m)^`+s.id+`\s+`+regexp.QuoteMeta(s.address)+`\s+\d+ms\s+\d+ms$`, out)
			}
			assert.Regexp(t, `(?m)^slowest: kill \d+ms \(\w+\), restore \d+ms \(\w+\)$`, out)
			assert.True(t, strings.HasSuffix(out, fmt.Sprintf("\noutcome: OK: every instance confirmed the kill and the restore; %s is back as it was (revision %d)\n", drillFlag, restore)), out)
			assert.Equal(t, before, storedDefinition(t, db, drillFlag))
		})
	}
}

// A stopped instance never confirms: the drill says which, exits 1, and
// the flag is restored all the same. The markdown record says it all.
func TestDrillReportsAnInstanceThatNeverConfirms(t *testing.T) {
	db := testdb.NewSQLite(t)
	fl := startFleet(t, db, 3)
	before := storedDefinition(t, db, drillFlag)
	stuck := fl[0]
	stopWithoutLock(t, db, stuck)

	code, out, errOut := drillCLI(t, context.Background(), db, drillHooks{}, "--flag", drillFlag, "--timeout", "1500ms", "--format", "markdown")
	require.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, errOut, "rollsafe: drill: not confirmed within 1.5s (2 writes): the kill by "+stuck.id+" ("+stuck.address+")")
	assert.Contains(t, errOut, "the restore by "+stuck.id)
	assert.Equal(t, before, storedDefinition(t, db, drillFlag), "restored although an instance never confirmed")

	assert.Regexp(t, `^# Rollback drill: `+"`"+drillFlag+"`"+`, \d{4}-\d{2}-\d{2}\n`, out)
	assert.Contains(t, out, "- **Run by:** "+mdText(osUser(&env{}))+" (store actor `drill`), ")
	assert.Contains(t, out, "- **Why:** "+mdText(drillReason("rollback drill"))+"\n")
	assert.Regexp(t, `- \*\*Kill:\*\* revision \d+\n- \*\*Restore:\*\* revision \d+\n`, out)
	assert.Contains(t, out, "```json\n"+before+"\n```\n")
	assert.Contains(t, out, "| Instance | Address | Kill confirmed | Restore confirmed |\n|---|---|---:|---:|\n")
	assert.Contains(t, out, "| `"+stuck.id+"` | "+mdText(stuck.address)+" | - | - |\n")
	for _, s := range fl[1:] {
		assert.Regexp(t, "\\| `"+s.id+"` \\| "+regexp.QuoteMeta(mdText(s.address))+` \| \d+ms \| \d+ms \|`+"\n", out)
	}
	assert.Regexp(t, `\*\*Slowest:\*\* kill \d+ms \(\w+\), restore \d+ms \(\w+\)\n`, out)
	assert.Contains(t, out, "**Unconfirmed:**\n\n- `"+stuck.id+"` ("+mdText(stuck.address)+"): the kill, within 1.5s; it serves revision ")
	assert.Contains(t, out, "- `"+stuck.id+"` ("+mdText(stuck.address)+"): the restore, within 1.5s; it serves revision ")
	assert.Regexp(t, `\*\*Outcome:\*\* FAILED: 2 writes were not confirmed within 1\.5s; the flag is restored \(revision \d+\)\n$`, out)
}

// Someone changes the drill's flag between the kill and the restore: the
// drill stops, names them, and writes nothing more.
func TestDrillStopsWhenTheFlagIsChangedMeanwhile(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	store := drillStore(t, db)
	bobs := `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`
	var bobRev int64
	h := drillHooks{beforeRestore: func(ctx context.Context) {
		res, err := store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "hotfix: v2 off for everyone",
			Edits: []flagstore.Edit{flagstore.Put(drillFlag, []byte(bobs))}})
		require.NoError(t, err)
		bobRev = res.Revision
	}}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag)
	require.Equal(t, exitFailed, code, errOut)
	assert.Regexp(t, `rollsafe: drill: stopped: flag "orders-summary-v2" was changed after the drill's kill \(revision \d+\) by bob at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(revision \d+: hotfix: v2 off for everyone\); the drill changes nothing more`, errOut)
	assert.Contains(t, out, "changed by bob at ")
	assert.Contains(t, out, fmt.Sprintf(": revision %d (hotfix: v2 off for everyone)\n", bobRev))
	assert.Contains(t, out, "outcome: STOPPED: someone else changed the flag during the drill; the drill left it as they did\n")

	assert.Equal(t, bobs, storedDefinition(t, db, drillFlag), "the flag stays as bob left it")
	rev, err := store.Revision(context.Background())
	require.NoError(t, err)
	assert.Equal(t, bobRev, rev, "nothing written after bob's change")
	recs, err := store.History(context.Background(), flagstore.Filter{Limit: 2})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "bob", recs[0].Actor)
	assert.Equal(t, "drill", recs[1].Actor, "the kill")
}

// A change made outside rollsafe (the row edited by hand) moves no
// revision and leaves no record: the drill still sees that the flag is not
// what its kill wrote, and stops.
func TestDrillStopsWhenTheFlagIsChangedByHand(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	hand := `{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`
	h := drillHooks{beforeRestore: func(ctx context.Context) {
		_, err := db.ExecContext(ctx, `UPDATE rollsafe_flags SET definition = ? WHERE flag_key = ?`, hand, drillFlag)
		require.NoError(t, err)
	}}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--format", "json")
	require.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, errOut, `rollsafe: drill: stopped: flag "orders-summary-v2" was changed after the drill's kill (revision 2) outside rollsafe`)
	rep := decode[drillReport](t, out)
	assert.False(t, rep.Restored)
	assert.Nil(t, rep.RestoreRevision)
	require.Len(t, rep.ChangedBy, 1)
	assert.Equal(t, "(outside rollsafe, no record)", rep.ChangedBy[0].Actor)
	assert.True(t, rep.ChangedBy[0].Time.IsZero())
	assert.Equal(t, hand, storedDefinition(t, db, drillFlag), "the hand edit is kept")
	assert.Equal(t, int64(2), storeRevision(t, db), "nothing written after the kill")
}

// Another flag changes between the kill and the restore: the store's
// revision moved, the drill's flag did not, and the restore goes through
// on the new revision.
func TestDrillRestoresOverAnUnrelatedChange(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	store := drillStore(t, db)
	before := storedDefinition(t, db, drillFlag)
	banner := `{"state":"ENABLED","variants":{"a":"Welcome","b":"Hello"},"defaultVariant":"a"}`
	h := drillHooks{beforeRestore: func(ctx context.Context) {
		_, err := store.Apply(ctx, flagstore.Change{Actor: "carol", Reason: "new banner",
			Edits: []flagstore.Edit{flagstore.Put("banner", []byte(banner))}})
		require.NoError(t, err)
	}}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	rep := decode[drillReport](t, out)
	assert.True(t, rep.OK)
	require.NotNil(t, rep.KillRevision)
	require.NotNil(t, rep.RestoreRevision)
	assert.Equal(t, *rep.KillRevision+2, *rep.RestoreRevision, "restored after carol's change")
	assert.Empty(t, rep.ChangedBy)
	for _, di := range rep.Instances {
		assert.NotNil(t, di.KillMs, di.ID)
		assert.NotNil(t, di.RestoreMs, di.ID)
	}
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))
	assert.Equal(t, banner, storedDefinition(t, db, "banner"), "carol's change is kept")
}

// The command's context ends once the kill is committed (SIGINT, SIGTERM):
// the wait ends, the restore is still written, on a context of its own.
func TestDrillRestoresWhenInterrupted(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	before := storedDefinition(t, db, drillFlag)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := drillHooks{afterKill: func(context.Context) { cancel() }}

	code, out, errOut := drillCLI(t, ctx, db, h, "--flag", drillFlag, "--format", "json")
	require.Equal(t, exitCantRun, code, errOut)
	assert.Regexp(t, `rollsafe: drill: interrupted \(context canceled\) while waiting for the fleet to confirm the kill \(revision \d+\); the flag is restored at revision \d+`, errOut)
	rep := decode[drillReport](t, out)
	assert.False(t, rep.OK)
	assert.True(t, rep.Restored)
	assert.Equal(t, exitCantRun, rep.ExitCode)
	assert.Contains(t, rep.Error, "interrupted")
	assert.Empty(t, rep.Unconfirmed, "an interrupted wait blames no instance")
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))
}

// The restore cannot be written (the audit table is gone): the drill says
// loudly that the flag is still killed, and the command it prints puts it
// back.
func TestDrillSaysHowToRestoreWhenTheRestoreFails(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	h := drillHooks{beforeRestore: func(ctx context.Context) {
		_, err := db.ExecContext(ctx, `ALTER TABLE rollsafe_flag_changes RENAME TO rollsafe_flag_changes_away`)
		require.NoError(t, err)
	}, restoreBudget: time.Second}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag)
	require.Equal(t, exitCantRun, code, errOut)
	assert.Contains(t, errOut, `rollsafe: drill: THE RESTORE FAILED: flag "orders-summary-v2" IS STILL KILLED (state DISABLED since revision 2, this drill's kill): `)
	want := "rollsafe flags revive orders-summary-v2 --reason 'restore after a failed rollback drill' --dialect sqlite --dsn " + db.Name
	assert.Contains(t, errOut, "rollsafe: drill: put it back with: "+want+"\n")
	assert.Contains(t, errOut, `rollsafe: drill: its definition before the drill (revision 1): {"state":"ENABLED"`)
	assert.Contains(t, out, "outcome: THE FLAG IS STILL KILLED: the restore failed; put it back with: "+want+"\n")
	st, err := drillStore(t, db).Current(context.Background())
	require.NoError(t, err)
	state, _ := st.State(drillFlag)
	assert.Equal(t, flags.Disabled, state)

	_, err = db.ExecContext(context.Background(), `ALTER TABLE rollsafe_flag_changes_away RENAME TO rollsafe_flag_changes`)
	require.NoError(t, err)
	code, _, errOut = rollsafe(t, shellWords(t, want)[1:]...)
	require.Equal(t, exitOK, code, errOut)
	st, err = drillStore(t, db).Current(context.Background())
	require.NoError(t, err)
	state, _ = st.State(drillFlag)
	assert.Equal(t, flags.Enabled, state, "the printed command puts the flag back")
}

// Interrupted before the kill is written: nothing is written, and the
// drill says so.
func TestDrillInterruptedBeforeTheKill(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 1)
	before := storedDefinition(t, db, drillFlag)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := drillHooks{beforeKill: func(context.Context) { cancel() }}

	code, _, errOut := drillCLI(t, ctx, db, h, "--flag", drillFlag)
	require.Equal(t, exitCantRun, code, errOut)
	assert.Contains(t, errOut, `rollsafe: drill: kill flag "orders-summary-v2": `)
	assert.Contains(t, errOut, "context canceled; nothing written\n")
	assert.Equal(t, int64(1), storeRevision(t, db))
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))
}

// Refusals write nothing and exit 1, naming the flag and why.
func TestDrillRefusals(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	store := r.store
	_, err := store.Apply(context.Background(), flagstore.Change{Actor: "ci", Reason: "off",
		Edits: []flagstore.Edit{flagstore.SetState(drillFlag, flags.Disabled)}})
	require.NoError(t, err)
	code, _, errOut := r.cli(t, "start", writeFlagFile(t, "gated.yaml", gatedPlan), "--actor", "ci")
	require.Equal(t, exitOK, code, errOut)
	rev, err := store.Revision(context.Background())
	require.NoError(t, err)

	for _, tc := range []struct {
		name, flag, want string
	}{
		{"unknown flag", "no-such-flag", `drill: refused: flag "no-such-flag" is not in the store (revision 2)`},
		{"already disabled", drillFlag, `drill: refused: flag "orders-summary-v2" is already DISABLED at revision 2: there is no kill to rehearse`},
		{"held by a release", "search-v2", `drill: refused: flag "search-v2" is moved by release "search-v2", which is Progressing: the release owns the flag and would undo the kill`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := drillCLI(t, context.Background(), r.DB, drillHooks{}, "--flag", tc.flag)
			assert.Equal(t, exitFailed, code)
			assert.Contains(t, errOut, "rollsafe: "+tc.want)
			assert.Empty(t, out, "a refusal in text is said on stderr")

			code, out, _ = drillCLI(t, context.Background(), r.DB, drillHooks{}, "--flag", tc.flag, "--format", "json")
			assert.Equal(t, exitFailed, code)
			rep := decode[drillReport](t, out)
			assert.Contains(t, rep.Error, tc.want)
			assert.False(t, rep.OK)
			assert.Nil(t, rep.KillRevision)
			assert.Equal(t, exitFailed, rep.ExitCode)

			code, out, _ = drillCLI(t, context.Background(), r.DB, drillHooks{}, "--flag", tc.flag, "--format", "markdown")
			assert.Equal(t, exitFailed, code)
			assert.Contains(t, out, "- **Kill:** none\n")
			assert.Contains(t, out, "**Outcome:** refused, nothing written: ")

			now, err := store.Revision(context.Background())
			require.NoError(t, err)
			assert.Equal(t, rev, now, "nothing written")
		})
	}

	// A store with flags but no live instance: nothing to measure.
	t.Run("no live instance", func(t *testing.T) {
		db := testdb.NewSQLite(t)
		_, err := drillStore(t, db).Import(context.Background(), []byte(storeSeed), flagstore.Change{Actor: "ci", Reason: "seed"})
		require.NoError(t, err)
		code, _, errOut := drillCLI(t, context.Background(), db, drillHooks{}, "--flag", drillFlag)
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "rollsafe: drill: refused: no live instance in the fleet registry")
		assert.Equal(t, int64(1), storeRevision(t, db), "nothing written")
	})
}

// Bad input: exit 2, a message naming the input, nothing touched.
func TestDrillBadInput(t *testing.T) {
	db := testdb.NewSQLite(t)
	conn := []string{"--dialect", "sqlite", "--dsn", db.Name}
	missing := filepath.Join(t.TempDir(), "none.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no flag", conn, "drill: --flag is required: the KEY of the flag whose kill to rehearse"},
		{"bad format", append([]string{"--flag", drillFlag, "--format", "yaml"}, conn...), `drill: invalid value "yaml" for flag -format: unknown format "yaml" (want text|json|markdown)`},
		{"bad timeout", append([]string{"--flag", drillFlag, "--timeout", "5"}, conn...), `drill: invalid value "5" for flag -timeout: "5" is not a duration such as 5s or 1m30s`},
		{"zero timeout", append([]string{"--flag", drillFlag, "--timeout", "0s"}, conn...), "drill: --timeout 0s is not positive"},
		{"empty reason", append([]string{"--flag", drillFlag, "--reason", " "}, conn...), "drill: --reason is empty"},
		{"argument", append([]string{"--flag", drillFlag, "extra"}, conn...), `drill: unexpected argument "extra": the drill takes flags only`},
		{"no dsn", []string{"--flag", drillFlag, "--dialect", "sqlite"}, "drill: --dialect and --dsn (or $ROLLSAFE_DSN) are required"},
		{"bad dialect", []string{"--flag", drillFlag, "--dialect", "oracle", "--dsn", db.Name}, "drill: --dialect: "},
		{"no database", []string{"--flag", drillFlag, "--dialect", "sqlite", "--dsn", missing}, "drill: no SQLite database at "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"drill"}, tc.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Contains(t, errOut, "rollsafe: "+tc.want)
			assert.Empty(t, out)

			code, out, _ = rollsafe(t, append([]string{"drill", "--format", "json"}, tc.args...)...)
			assert.Equal(t, exitCantRun, code)
			e := decode[jsonError](t, out)
			assert.Contains(t, e.Error, tc.want)
			assert.Equal(t, exitCantRun, e.ExitCode)
		})
	}
	_, err := os.Stat(missing)
	assert.True(t, errors.Is(err, os.ErrNotExist), "no database created")
	assert.Equal(t, int64(0), storeRevision(t, db), "nothing written")
}

// The usage documents the contract: the conflict rule, the JSON fields,
// the exit codes.
func TestDrillUsage(t *testing.T) {
	code, out, _ := rollsafe(t, "help", "drill")
	require.Equal(t, exitOK, code)
	for _, want := range []string{"usage: rollsafe drill --flag KEY", "If the flag itself changed", "If only other flags changed",
		`"killMs"`, `"slowestRestoreMs"`, `"unconfirmed"`, `"restored"`, `"ok"`, "Exit codes: 0", "-timeout", "-reason", "-flag KEY"} {
		assert.Contains(t, out, want)
	}
	code, out, _ = rollsafe(t, "help")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `(?m)^  drill\s+rehearse a flag's rollback`, out)
}

// The command that puts a flag back quotes what a shell would split, and
// never carries a password; when it reads the DSN from $ROLLSAFE_DSN,
// which the drill did not read it from, the drill says to set it first.
func TestDrillReviveCommand(t *testing.T) {
	for _, s := range []string{"plain", "a b", "it's", "$HOME", `back\slash`, ""} {
		assert.Equal(t, []string{s}, shellWords(t, shellQuote(s)), s)
	}
	for _, tc := range []struct {
		name, flagDSN, dsn string
		d                  dialect.Dialect
		want, note         string
	}{
		{"sqlite path", "/var/lib/orders.db", "/var/lib/orders.db", dialect.SQLite,
			"rollsafe flags revive 'my flag' --reason 'restore after a failed rollback drill' --dialect sqlite --dsn /var/lib/orders.db", ""},
		{"no secret", "postgres://app@db:5432/orders", "postgres://app@db:5432/orders", dialect.Postgres,
			"rollsafe flags revive 'my flag' --reason 'restore after a failed rollback drill' --dialect postgres --dsn postgres://app@db:5432/orders", ""},
		{"a password", "postgres://app:s3cr3t@db:5432/orders", "postgres://app:s3cr3t@db:5432/orders", dialect.Postgres,
			`rollsafe flags revive 'my flag' --reason 'restore after a failed rollback drill' --dialect postgres --dsn "$ROLLSAFE_DSN"`,
			"first set ROLLSAFE_DSN to the DSN given to --dsn (postgres://app:xxxxx@db:5432/orders, its password left out here): the command reads it from there"},
		{"from the environment", "", "app:s3cr3t@tcp(db:3306)/orders", dialect.MySQL,
			"rollsafe flags revive 'my flag' --reason 'restore after a failed rollback drill' --dialect mysql", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &drill{key: "my flag", dsnFlag: &tc.flagDSN, dsn: tc.dsn, d: tc.d, rep: drillReport{KillRevision: new(int64(2))}}
			assert.Equal(t, tc.want, d.reviveCommand())

			var de *drillError
			require.ErrorAs(t, d.restoreFailed(errors.New("database is gone")), &de)
			require.NotEmpty(t, de.extra)
			assert.Equal(t, "drill: put it back with: "+tc.want, de.extra[0])
			assert.Equal(t, tc.note, d.rep.RestoreNote)
			if tc.note == "" {
				assert.Len(t, de.extra, 2, "the command and the definition")
				assert.NotContains(t, d.outcome(), "ROLLSAFE_DSN to")
				return
			}
			require.Len(t, de.extra, 3)
			assert.Equal(t, "drill: "+tc.note, de.extra[1])
			assert.NotContains(t, strings.Join(de.extra, "\n"), "s3cr3t")
			assert.Contains(t, d.outcome(), "put it back with: "+tc.want+" ("+tc.note+")")
		})
	}
}

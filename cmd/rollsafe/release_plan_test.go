package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/testdb"
)

const examplePlan = "../../examples/service/release.yaml"

func TestReleaseValidate(t *testing.T) {
	code, out, errOut := rollsafe(t, "release", "validate", examplePlan)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, examplePlan+": valid, release orders-summary-v2: 1 flag in 5 steps\n", out)

	code, out, _ = rollsafe(t, "release", "validate", "--format", "json", examplePlan)
	require.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"file": "`+examplePlan+`", "valid": true, "id": "orders-summary-v2", "flags": ["orders-summary-v2"], "steps": 5, "problems": []}`, out)
}

func TestReleaseValidateListsEveryProblem(t *testing.T) {
	const invalid = "../../release/testdata/plans/invalid.yaml"
	code, out, _ := rollsafe(t, "release", "validate", invalid)
	require.Equal(t, exitFailed, code)
	assert.Contains(t, out, invalid+`: steps[0].weights["checkout"]: 120 is above 100`+"\n")
	assert.Contains(t, out, invalid+": steps[2].colour: unknown field\n")
	assert.True(t, strings.HasSuffix(out, invalid+": invalid, 30 problems\n"), out)

	code, out, _ = rollsafe(t, "release", "validate", "--format", "json", invalid)
	require.Equal(t, exitFailed, code)
	var got struct {
		Valid    bool
		Flags    []string
		Problems []struct{ Field, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Valid)
	assert.Empty(t, got.Flags)
	assert.Len(t, got.Problems, 30)
	assert.Equal(t, "id", got.Problems[2].Field)

	bad := writeFlagFile(t, "plan.json", "{\n  \"id\": \"x\",\n  \"steps\": [,]\n}")
	code, out, _ = rollsafe(t, "release", "validate", bad)
	require.Equal(t, exitFailed, code)
	assert.Contains(t, out, bad+": malformed JSON at line 3, column 13")
}

func TestReleaseValidateUnreadable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "plan.yaml")
	code, out, errOut := rollsafe(t, "release", "validate", missing)
	assert.Equal(t, exitCantRun, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "rollsafe: release validate: open "+missing)

	code, out, _ = rollsafe(t, "release", "validate", "--format", "json", missing)
	assert.Equal(t, exitCantRun, code)
	var got jsonError
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, exitCantRun, got.ExitCode)
	assert.Contains(t, got.Error, "release validate: open ")

	code, _, errOut = rollsafe(t, "release", "validate", "a", "b")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "want one PLAN, got 2 arguments")
}

func TestReleaseRunbook(t *testing.T) {
	code, out, errOut := rollsafe(t, "release", "runbook", "--dialect", "sqlite", examplePlan)
	require.Equal(t, exitOK, code, errOut)
	want, err := os.ReadFile("../../release/testdata/runbook/example-service.md")
	require.NoError(t, err)
	assert.Equal(t, strings.ReplaceAll(string(want), "$ORDERS_DSN", "$ROLLSAFE_DSN"), out)

	code, out, errOut = rollsafe(t, "release", "runbook", "../../release/testdata/plans/invalid.yaml")
	assert.Equal(t, exitFailed, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `rollsafe: release runbook: ../../release/testdata/plans/invalid.yaml: steps[0].weights["checkout"]: 120 is above 100`)

	code, _, _ = rollsafe(t, "release", "runbook", filepath.Join(t.TempDir(), "absent.json"))
	assert.Equal(t, exitCantRun, code)

	code, out, errOut = rollsafe(t, "release", "runbook", "--dialect", "oracle", examplePlan)
	assert.Equal(t, exitCantRun, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `release runbook: dialect: unknown dialect "oracle"`)
}

func TestReleaseHelpListsTheWholeGroup(t *testing.T) {
	code, out, _ := rollsafe(t, "help", "release")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "usage: rollsafe release validate|start|status|promote|pause|resume|abort|history|runbook|rollback")
	assert.Contains(t, out, "release validate")
	assert.Contains(t, out, "release runbook")

	code, out, _ = rollsafe(t, "help")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "  release ")
}

// TestRunbookLastResortCommandsRun runs the flag commands a runbook gives,
// as written, against a store: they must be the CLI's real syntax.
func TestRunbookLastResortCommandsRun(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		cli := onDB(db)
		code, _, errOut := cli(t, "push", writeFlagFile(t, "flags.json", storeSeed), "--reason", "seed", "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)

		code, runbook, errOut := rollsafe(t, "release", "runbook", "--dialect", db.Dialect.String(), examplePlan)
		require.Equal(t, exitOK, code, errOut)
		commands := map[string][]string{}
		for _, line := range strings.Split(runbook, "\n") {
			if !strings.HasPrefix(line, "rollsafe flags ") {
				continue
			}
			line = strings.NewReplacer(`"$ROLLSAFE_DSN"`, db.DSN, `"$USER"`, "oncall", `"..."`, "by-hand").Replace(line)
			args := strings.Fields(line)[1:]
			commands[args[1]] = args
		}
		require.Contains(t, commands, "weights")
		require.Contains(t, commands, "kill")

		code, _, errOut = rollsafe(t, commands["weights"]...)
		require.Equal(t, exitOK, code, errOut)
		code, out, errOut := cli(t, "pull")
		require.Equal(t, exitOK, code, errOut)
		var doc struct {
			Flags map[string]struct {
				State     string
				Targeting json.RawMessage
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		assert.JSONEq(t, `{"fractional": [{"var": "targetingKey"}, ["off", 100], ["on", 0]]}`, string(doc.Flags["orders-summary-v2"].Targeting))

		code, _, errOut = rollsafe(t, commands["kill"]...)
		require.Equal(t, exitOK, code, errOut)
		code, out, _ = cli(t, "pull")
		require.Equal(t, exitOK, code)
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		assert.Equal(t, "DISABLED", doc.Flags["orders-summary-v2"].State)

		code, out, _ = cli(t, "history", "--format", "json")
		require.Equal(t, exitOK, code)
		assert.Equal(t, 2, strings.Count(out, `"releaseId":"orders-summary-v2"`), "both changes carry the release id: %s", out)
	})
}

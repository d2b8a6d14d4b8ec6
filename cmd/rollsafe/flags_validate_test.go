package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flagdTestkit is flagd's testbed flag file (see the NOTICE of the testbed).
const flagdTestkit = "../../flags/testdata/flagd-testbed/evaluator/flags/testkit-flags.json"

// flagdTestkitInvalid are the testbed's flags that are invalid: the one whose
// $ref names no evaluator, which the testbed expects to answer PARSE_ERROR.
// flags/provider_invalid_test.go serves the file and holds the same list.
var flagdTestkitInvalid = []string{"ref-to-nonexistent-evaluator-flag"}

func TestFlagsValidateListsEveryInvalidFlagOfTheFlagdTestkit(t *testing.T) {
	code, out, errOut := rollsafe(t, "flags", "validate", "--format", "json", flagdTestkit)
	require.Equal(t, exitFailed, code, "stderr %s", errOut)
	var got struct {
		Valid        bool
		Refused      bool
		Flags        []string
		InvalidFlags []string
		Problems     []struct{ Flag, Field, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Valid)
	assert.False(t, got.Refused, "the file loads, its invalid flags kept out")
	assert.Equal(t, flagdTestkitInvalid, got.InvalidFlags)
	assert.Len(t, got.Flags, 59)
	var named []string
	for _, p := range got.Problems {
		assert.NotEmpty(t, p.Field, "problem of %s names no field", p.Flag)
		named = append(named, p.Flag)
	}
	assert.Equal(t, flagdTestkitInvalid, named, "one problem per invalid flag, in key order")

	code, out, _ = rollsafe(t, "flags", "validate", flagdTestkit)
	require.Equal(t, exitFailed, code)
	for _, k := range flagdTestkitInvalid {
		assert.Contains(t, out, `flag "`+k+`": targeting: $ref "nonexistent_evaluator" names no entry of $evaluators`)
	}
	assert.True(t, strings.HasSuffix(out, "invalid, 1 problem in 1 flag; the 59 other flags load\n"), out)

	code, out, _ = rollsafe(t, "flags", "validate", "--format", "github", flagdTestkit)
	require.Equal(t, exitFailed, code)
	assert.Equal(t, 1, strings.Count(out, "::error file="))
}

func TestFlagsValidateRefusedFileJSON(t *testing.T) {
	bad := writeFlagFile(t, "bad.json", `{"flags": {"x": {"state": "ENABLED", "variants": {"a": 1}}}, "flag": {}}`)
	code, out, _ := rollsafe(t, "flags", "validate", "--format", "json", bad)
	assert.Equal(t, exitFailed, code)
	var got struct {
		Valid, Refused bool
		Flags          []string
		Problems       []struct{ Flag, Field, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Valid)
	assert.True(t, got.Refused)
	assert.Empty(t, got.Flags)
	require.Len(t, got.Problems, 1)
	assert.Equal(t, "flag", got.Problems[0].Field)
}

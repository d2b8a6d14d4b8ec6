package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flagdTestkit is flagd's testbed flag file (see its NOTICE beside it).
const flagdTestkit = "../../flags/testdata/flagd-testkit-flags.json"

// flagdTestkitInvalid are the testbed's flags that rollsafe finds invalid;
// flags/provider_invalid_test.go serves the file and holds the same list.
//
// The testbed expects PARSE_ERROR from ref-to-nonexistent-evaluator-flag
// only: the other eleven are refused today by operator checks stricter than
// flagd (nested and boolean fractional variants, zero and negative weights,
// wrong sem_ver/starts_with/ends_with arguments). Once those operators
// evaluate as flagd does, this list is that one flag.
var flagdTestkitInvalid = []string{
	"ends-with-wrong-args-flag",
	"fractional-as-condition-false-flag",
	"fractional-as-condition-flag",
	"fractional-negative-weight-flag",
	"fractional-nested-if-flag",
	"fractional-nested-var-flag",
	"fractional-nested-weight-flag",
	"fractional-zero-weights-flag",
	"ref-to-nonexistent-evaluator-flag",
	"semver-invalid-operator-flag",
	"semver-wrong-args-flag",
	"starts-with-wrong-args-flag",
}

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
	assert.Len(t, got.Flags, 48)
	var named []string
	for _, p := range got.Problems {
		assert.NotEmpty(t, p.Field, "problem of %s names no field", p.Flag)
		named = append(named, p.Flag)
	}
	assert.Equal(t, flagdTestkitInvalid, named, "one problem per invalid flag, in key order")

	code, out, _ = rollsafe(t, "flags", "validate", flagdTestkit)
	require.Equal(t, exitFailed, code)
	for _, k := range flagdTestkitInvalid {
		assert.Contains(t, out, `flag "`+k+`": targeting: `)
	}
	assert.True(t, strings.HasSuffix(out, "invalid, 12 problems in 12 flags; the 48 other flags load\n"), out)

	code, out, _ = rollsafe(t, "flags", "validate", "--format", "github", flagdTestkit)
	require.Equal(t, exitFailed, code)
	assert.Equal(t, 12, strings.Count(out, "::error file="))
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

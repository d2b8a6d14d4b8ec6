package textcut_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/textcut"
)

func TestPrefix(t *testing.T) {
	assert.Equal(t, "abc", textcut.Prefix("abc", 5))
	assert.Equal(t, "ab", textcut.Prefix("abc", 2))
	assert.Equal(t, "a", textcut.Prefix("aé", 2), "é is two bytes: not cut in two")
	assert.Equal(t, "", textcut.Prefix("é", 1))
	assert.Equal(t, "", textcut.Prefix("abc", 0))
	assert.Equal(t, "a…", textcut.Mark("aé", 2))
	assert.Equal(t, "aé", textcut.Mark("aé", 3))
}

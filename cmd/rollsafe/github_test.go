package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGitHubEscaping(t *testing.T) {
	assert.Equal(t, "100%25 done%0Anext: a, b%0D", githubData("100% done\nnext: a, b\r"))
	assert.Equal(t, "dir/00001_a%3Ab%2Cc.sql%25%0A", githubProperty("dir/00001_a:b,c.sql%\n"))
}

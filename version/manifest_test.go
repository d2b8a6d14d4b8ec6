package version_test

import (
	"encoding/json"
	"errors"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    version.Manifest
		field   string // the FieldError's field, when an error is expected
		wantErr string
	}{
		{
			name: "full",
			in: `{"service":"orders","version":"2.4.0","requires":{"payments":">=1.2.0 <2.0.0","users":"^3"},
				"schema":">=12 <=15","releaseId":"r1","apis":["orders.v2"],"build":{"revision":"abc","goVersion":"go1.26.8"}}`,
			want: version.Manifest{Service: "orders", Version: "2.4.0",
				Requires: map[string]string{"payments": ">=1.2.0 <2.0.0", "users": "^3"},
				Schema:   ">=12 <=15", ReleaseID: "r1", APIs: []string{"orders.v2"},
				Build: &version.Build{Revision: "abc", GoVersion: "go1.26.8"}},
		},
		{name: "minimal", in: `{"service":"users","version":"3.0.0-rc.1+build.7"}`,
			want: version.Manifest{Service: "users", Version: "3.0.0-rc.1+build.7"}},
		{name: "unknown fields ignored", in: `{"service":"users","version":"3.1.0","future":{"x":1}}`,
			want: version.Manifest{Service: "users", Version: "3.1.0"}},
		{name: "v prefix", in: `{"service":"a","version":"v1.2.3"}`, field: "version", wantErr: `"v1.2.3" is not a strict semantic version`},
		{name: "two parts", in: `{"service":"a","version":"1.2"}`, field: "version", wantErr: `"1.2"`},
		{name: "no version", in: `{"service":"a"}`, field: "version", wantErr: `manifest field "version": "" is missing`},
		{name: "no service", in: `{"version":"1.0.0"}`, field: "service", wantErr: "is missing"},
		{name: "bad service", in: `{"service":"a b","version":"1.0.0"}`, field: "service", wantErr: `"a b" is not a service name`},
		{name: "bad constraint", in: `{"service":"a","version":"1.0.0","requires":{"b":">>1"}}`, field: "requires.b", wantErr: `manifest field "requires.b": ">>1" is not a version constraint`},
		{name: "empty constraint", in: `{"service":"a","version":"1.0.0","requires":{"b":""}}`, field: "requires.b", wantErr: `write "*"`},
		{name: "bad required name", in: `{"service":"a","version":"1.0.0","requires":{"":"1"}}`, field: "requires", wantErr: "not a service name"},
		{name: "bad schema", in: `{"service":"a","version":"1.0.0","schema":"twelve"}`, field: "schema", wantErr: `"twelve" is not a version constraint`},
		{name: "bad api", in: `{"service":"a","version":"1.0.0","apis":["ok","has space"]}`, field: "apis[1]", wantErr: `"has space"`},
		{name: "not json", in: `<html>`, wantErr: "not a JSON manifest"},
		{name: "wrong type", in: `{"service":"a","version":1}`, wantErr: "not a JSON manifest"},
		{name: "trailing data", in: `{"service":"a","version":"1.0.0"} {}`, wantErr: "data after the JSON object"},
		{name: "empty", in: ``, wantErr: "not a JSON manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := version.ParseManifest([]byte(tt.in))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, version.ErrInvalidManifest)
			assert.ErrorContains(t, err, tt.wantErr)
			if tt.field != "" {
				var fe *version.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tt.field, fe.Field)
			}
		})
	}
}

func TestManifestJSONRoundTrip(t *testing.T) {
	m := version.Manifest{Service: "orders", Version: "2.4.0", Requires: map[string]string{"payments": "^1.2"},
		Schema: ">=12 <=15", ReleaseID: "r7"}
	data, err := m.JSON()
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Equal(t, "r7", raw["releaseId"])
	assert.NotContains(t, raw, "build")
	assert.Contains(t, string(data), `"schema": ">=12 <=15"`)
	back, err := version.ParseManifest(data)
	require.NoError(t, err)
	assert.Equal(t, m, back)
}

func TestResolveBuild(t *testing.T) {
	info := func(v string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/orders", Version: v},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}
	}
	tests := []struct {
		name    string
		m       version.Manifest
		bi      *debug.BuildInfo
		want    string
		wantErr string
	}{
		{name: "tag drops v", m: version.Manifest{Service: "orders"}, bi: info("v2.4.0"), want: "2.4.0"},
		{name: "pseudo-version is a prerelease", m: version.Manifest{Service: "orders"},
			bi: info("v0.0.0-20261126101500-0123456789ab"), want: "0.0.0-20261126101500-0123456789ab"},
		{name: "pseudo-version of a modified tree keeps its build metadata", m: version.Manifest{Service: "orders"},
			bi: info("v2.4.1-0.20261126101500-0123456789ab+dirty"), want: "2.4.1-0.20261126101500-0123456789ab+dirty"},
		{name: "incompatible module", m: version.Manifest{Service: "orders"}, bi: info("v3.0.0+incompatible"), want: "3.0.0+incompatible"},
		{name: "explicit wins", m: version.Manifest{Service: "orders", Version: "9.9.9"}, bi: info("v2.4.0"), want: "9.9.9"},
		{name: "devel", m: version.Manifest{Service: "orders"}, bi: info("(devel)"), wantErr: `manifest field "version": "(devel)" is a development build's version; set Manifest.Version explicitly`},
		{name: "no build info", m: version.Manifest{Service: "orders"}, bi: nil, wantErr: "no module build info"},
		{name: "bad explicit", m: version.Manifest{Service: "orders", Version: "2.4"}, bi: info("v2.4.0"), wantErr: `"2.4" is not a strict`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := version.ResolveBuild(tt.m, tt.bi)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, version.ErrInvalidManifest)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Version)
			require.NotNil(t, got.Build)
			assert.Equal(t, version.Build{Revision: "0123abc", Modified: true, GoVersion: "go1.26.8"}, *got.Build)
		})
	}
}

// In a test binary the main module is the package under test, built as
// "(devel)" or with no version: Resolve must refuse rather than invent one.
func TestResolveWithoutVersionInTest(t *testing.T) {
	_, err := version.Resolve(version.Manifest{Service: "orders"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, version.ErrInvalidManifest))
	got, err := version.Resolve(version.Manifest{Service: "orders", Version: "1.0.0"})
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", got.Version)
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"service":"orders","version":"2.4.0","requires":{"payments":">=1.2.0 <2.0.0"},"schema":">=12 <=15"}`))
	f.Add([]byte(`{"service":"a","version":"1.0.0-rc.1+x","apis":["a.v1"],"build":{"revision":"r"}}`))
	f.Add([]byte(`{"service":"a","version":"1.0.0","requires":{"b":"^0.0 || ~1.2.x"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"service":"a","version":"1.0.0"}garbage`))
	self := version.Manifest{Service: "b", Version: "1.2.3", Requires: map[string]string{"a": ">=0.1.0"}}
	checker, err := version.NewChecker(self)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := version.ParseManifest(data)
		if err != nil {
			if !errors.Is(err, version.ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		// A manifest that parses must validate, survive a round trip and be
		// judged compatible or incompatible, never invalid.
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed manifest does not validate: %v", err)
		}
		again, err := m.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := version.ParseManifest(again); err != nil {
			t.Fatalf("round trip of %q: %v", again, err)
		}
		switch r := checker.Check(m); r.Verdict {
		case version.Compatible, version.Incompatible:
		default:
			t.Fatalf("valid manifest %q judged %s: %v", data, r.Verdict, r.Reasons)
		}
	})
}

// What a pseudo-version means for negotiation: a build of an untagged commit
// after v2.4.0 is a prerelease of 2.4.1, which a peer's "^2" refuses unless
// prereleases are admitted.
func TestPseudoVersionNegotiates(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "example.com/orders", Version: "v2.4.1-0.20261126101500-0123456789ab"}}
	self, err := version.ResolveBuild(version.Manifest{Service: "orders"}, bi)
	require.NoError(t, err)
	peer := version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2"}}

	c, err := version.NewChecker(self)
	require.NoError(t, err)
	got := c.Check(peer)
	assert.Equal(t, version.Incompatible, got.Verdict)
	require.Len(t, got.Reasons, 1)
	assert.Contains(t, got.Reasons[0], `payments 1.5.0 requires orders "^2" but we are 2.4.1-0.20261126101500-0123456789ab: `+
		`2.4.1-0.20261126101500-0123456789ab is a prerelease, which constraints exclude unless prereleases are allowed`)

	c, err = version.NewChecker(self, version.WithPrereleases())
	require.NoError(t, err)
	assert.Equal(t, version.Compatible, c.Check(peer).Verdict)
}

package version

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Manifest says what a build is and what it needs from its peers and its
// database. It is plain data: build it in Go or parse it from JSON with
// [ParseManifest], and check it with [Manifest.Validate].
type Manifest struct {
	// Service names the service, e.g. "orders". Required: letters, digits,
	// '.', '_' and '-', at most 128 bytes.
	Service string `json:"service"`
	// Version is the build's strict semantic version ("2.4.0", never "v2.4"
	// or "2.4"). Empty in a service's own manifest means "take it from the
	// module's build info" (see [Resolve]); a peer's manifest must carry one.
	Version string `json:"version"`
	// Requires maps a peer service's name to a constraint its version must
	// meet, e.g. {"payments": ">=1.2.0 <2.0.0"}. Nil means no requirements.
	Requires map[string]string `json:"requires,omitempty"`
	// Schema is a constraint over the database's goose migration version,
	// compared as N.0.0, e.g. ">=12 <=15". Empty means any schema.
	Schema string `json:"schema,omitempty"`
	// ReleaseID identifies the release this build belongs to, when a release
	// process assigns one. Empty means none; it plays no part in negotiation.
	ReleaseID string `json:"releaseId,omitempty"`
	// APIs lists the API versions the build serves, e.g. ["orders.v1",
	// "orders.v2"]. Informational; empty means not stated.
	APIs []string `json:"apis,omitempty"`
	// Build describes how the binary was built. Nil means not stated.
	Build *Build `json:"build,omitempty"`
}

// Build is the optional build information of a [Manifest].
type Build struct {
	// Revision is the VCS revision (commit) the binary was built from.
	Revision string `json:"revision,omitempty"`
	// Time is when that revision was committed (RFC 3339), as Go records it.
	Time string `json:"time,omitempty"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion,omitempty"`
}

// Limits on manifests read from outside, so that a hostile peer cannot make
// negotiation expensive.
const (
	// MaxManifestSize is the largest manifest, in bytes, that is read.
	MaxManifestSize = 1 << 20
	maxNameLen      = 128
	maxRequires     = 256
	maxAPIs         = 256
	maxTextLen      = 256
)

var serviceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ParseManifest decodes a JSON manifest and validates it. Unknown fields are
// ignored, so that an older build can read a newer build's manifest. The
// version must be present and strict. Errors wrap [ErrInvalidManifest]; a bad
// field is reported as a [*FieldError].
func ParseManifest(data []byte) (Manifest, error) {
	if len(data) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("%w: %d bytes is larger than the limit of %d", ErrInvalidManifest, len(data), MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: not a JSON manifest: %s", ErrInvalidManifest, clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Manifest{}, fmt.Errorf("%w: data after the JSON object", ErrInvalidManifest)
	}
	if m.Version == "" {
		return Manifest{}, &FieldError{Field: "version", Value: "", Reason: "is missing"}
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate checks every field and returns the first problem as a
// [*FieldError] (which wraps [ErrInvalidManifest]). An empty Version is
// accepted here, because [Resolve] fills it; a peer's manifest without one is
// refused by [ParseManifest].
func (m Manifest) Validate() error {
	_, err := compile(m)
	return err
}

// JSON returns the manifest as indented JSON, the form the handler serves.
// Constraints keep their '<' and '>' as they are (no \u003c), for the
// people who read a manifest with curl.
func (m Manifest) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// compiled is a validated manifest with its version and constraints parsed,
// so that a check does not parse them again.
type compiled struct {
	m        Manifest
	version  *semver.Version // nil when the manifest has no version yet
	requires map[string]*semver.Constraints
	schema   *semver.Constraints // nil when any schema will do
}

func compile(m Manifest) (*compiled, error) {
	c := &compiled{m: m}
	if len(m.Service) > maxNameLen || !serviceName.MatchString(m.Service) {
		reason := "is not a service name (letters, digits, '.', '_', '-'; at most 128 bytes)"
		if m.Service == "" {
			reason = "is missing"
		}
		return nil, &FieldError{Field: "service", Value: m.Service, Reason: reason}
	}
	if m.Version != "" {
		v, err := semver.StrictNewVersion(m.Version)
		if err != nil {
			return nil, &FieldError{Field: "version", Value: m.Version, Reason: "is not a strict semantic version (MAJOR.MINOR.PATCH)", Err: err}
		}
		c.version = v
	}
	if len(m.Requires) > maxRequires {
		return nil, &FieldError{Field: "requires", Value: fmt.Sprint(len(m.Requires)), Reason: fmt.Sprintf("names more than %d services", maxRequires)}
	}
	if len(m.Requires) > 0 {
		c.requires = make(map[string]*semver.Constraints, len(m.Requires))
	}
	for _, name := range sortedKeys(m.Requires) {
		field := "requires." + name
		if len(name) > maxNameLen || !serviceName.MatchString(name) {
			return nil, &FieldError{Field: "requires", Value: name, Reason: "is not a service name"}
		}
		cs, err := parseConstraint(m.Requires[name])
		if err != nil {
			return nil, &FieldError{Field: field, Value: m.Requires[name], Reason: "is not a version constraint", Err: err}
		}
		c.requires[name] = cs
	}
	if m.Schema != "" {
		cs, err := parseConstraint(m.Schema)
		if err != nil {
			return nil, &FieldError{Field: "schema", Value: m.Schema, Reason: "is not a version constraint", Err: err}
		}
		c.schema = cs
	}
	if len(m.ReleaseID) > maxTextLen {
		return nil, &FieldError{Field: "releaseId", Value: m.ReleaseID, Reason: fmt.Sprintf("is longer than %d bytes", maxTextLen)}
	}
	if len(m.APIs) > maxAPIs {
		return nil, &FieldError{Field: "apis", Value: fmt.Sprint(len(m.APIs)), Reason: fmt.Sprintf("lists more than %d APIs", maxAPIs)}
	}
	for i, api := range m.APIs {
		if api == "" || len(api) > maxTextLen || strings.ContainsAny(api, " \t\r\n") {
			return nil, &FieldError{Field: fmt.Sprintf("apis[%d]", i), Value: api, Reason: "is not an API version (non-empty, no spaces)"}
		}
	}
	return c, nil
}

// parseConstraint refuses the empty constraint, which semver reads as
// "anything": in a manifest an empty string is far more likely a mistake.
func parseConstraint(s string) (*semver.Constraints, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("the constraint is empty (write \"*\" to accept any version)")
	}
	return semver.NewConstraint(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Resolve returns the service's own manifest made complete: an empty Version
// is taken from the main module's build info (see [ResolveBuild]), a nil
// Build is filled from it, and the result is validated.
func Resolve(m Manifest) (Manifest, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return ResolveBuild(m, bi)
}

// ResolveBuild is [Resolve] with the build info given; bi may be nil (a
// binary built without module support).
//
// When m.Version is empty it becomes the main module's version with its
// leading "v" dropped. "(devel)" — what `go run` and `go build` in a checkout
// without a tag report — is refused with an error asking for an explicit
// version. A pseudo-version such as v0.0.0-20261126101500-0123456789ab (a build
// of an untagged commit) becomes a prerelease, 0.0.0-20261126101500-0123456789ab:
// peers' constraints exclude prereleases unless they opt in (see
// [WithPrereleases]), so such a build is incompatible with every peer that
// constrains it until it is tagged.
func ResolveBuild(m Manifest, bi *debug.BuildInfo) (Manifest, error) {
	if m.Version == "" {
		switch {
		case bi == nil || bi.Main.Version == "":
			return m, &FieldError{Field: "version", Value: "", Reason: "is missing and the binary has no module build info; set Manifest.Version"}
		case bi.Main.Version == "(devel)":
			return m, &FieldError{Field: "version", Value: "(devel)", Reason: "is a development build's version; set Manifest.Version explicitly (e.g. from -ldflags -X) or build a tagged module"}
		}
		m.Version = strings.TrimPrefix(bi.Main.Version, "v")
	}
	if m.Build == nil && bi != nil {
		b := &Build{GoVersion: bi.GoVersion}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		m.Build = b
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	return m, nil
}

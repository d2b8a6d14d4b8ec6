package version

import (
	"context"
	"errors"
	"fmt"

	"github.com/Masterminds/semver/v3"
)

// SchemaCheck returns a check that refuses a database whose goose migration
// version is outside m.Schema — code rolled back without its down migration,
// or started against a database migrated past what it knows. current returns
// the database's version; migrate.Runner's Version method has this shape.
//
// The version N is compared as N.0.0, so m.Schema reads ">=12 <=15". An empty
// m.Schema accepts any version. The check returns a [*SchemaError] (wrapping
// [ErrSchemaOutOfRange]) when outside the range and current's error,
// wrapped, when the version cannot be read. Register it as a critical
// readiness check: a service on the wrong schema should take no traffic.
func SchemaCheck(m Manifest, current func(context.Context) (int64, error)) (func(context.Context) error, error) {
	if current == nil {
		return nil, errors.New("version: schema check: nil version function")
	}
	c, err := compile(m)
	if err != nil {
		return nil, fmt.Errorf("version: schema check: %w", err)
	}
	return func(ctx context.Context) error {
		n, err := current(ctx)
		if err != nil {
			return fmt.Errorf("version: schema check: read the database's schema version: %w", err)
		}
		return checkSchema(c, n)
	}, nil
}

// CheckSchema checks a schema version against m.Schema once; see
// [SchemaCheck].
func CheckSchema(m Manifest, schemaVersion int64) error {
	c, err := compile(m)
	if err != nil {
		return fmt.Errorf("version: schema check: %w", err)
	}
	return checkSchema(c, schemaVersion)
}

func checkSchema(c *compiled, n int64) error {
	if c.schema == nil {
		return nil
	}
	e := &SchemaError{Service: c.m.Service, Version: c.m.Version, Schema: n, Range: c.m.Schema}
	if n < 0 {
		e.Reasons = []string{"a schema version is never negative"}
		return e
	}
	ok, errs := c.schema.Validate(semver.New(uint64(n), 0, 0, "", ""))
	if ok {
		return nil
	}
	for _, err := range errs {
		e.Reasons = append(e.Reasons, humanize(err.Error()))
	}
	return e
}

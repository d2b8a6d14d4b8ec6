package version_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

func TestSchemaCheck(t *testing.T) {
	tests := []struct {
		name    string
		schema  string
		current int64
		wantErr string
	}{
		{"lowest", ">=12 <=15", 12, ""},
		{"highest", ">=12 <=15", 15, ""},
		{"rolled back without the down migration", ">=12 <=15", 16, `orders 2.4.0 needs a schema version in ">=12 <=15" but the database is at 16: 16.0.0 is greater than 15`},
		{"not migrated yet", ">=12 <=15", 11, "database is at 11: 11.0.0 is less than 12"},
		{"caret", "^3", 3, ""},
		{"any", "", 99, ""},
		{"negative", ">=1", -1, "never negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := orders
			m.Schema = tt.schema
			check, err := version.SchemaCheck(m, func(context.Context) (int64, error) { return tt.current, nil })
			require.NoError(t, err)
			err = check(context.Background())
			if tt.wantErr == "" {
				assert.NoError(t, err)
				assert.NoError(t, version.CheckSchema(m, tt.current))
				return
			}
			require.ErrorIs(t, err, version.ErrSchemaOutOfRange)
			assert.ErrorContains(t, err, tt.wantErr)
			var se *version.SchemaError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.current, se.Schema)
			assert.ErrorIs(t, version.CheckSchema(m, tt.current), version.ErrSchemaOutOfRange)
		})
	}
}

func TestSchemaCheckErrors(t *testing.T) {
	boom := errors.New("database is down")
	check, err := version.SchemaCheck(orders, func(context.Context) (int64, error) { return 0, boom })
	require.NoError(t, err)
	err = check(context.Background())
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, version.ErrSchemaOutOfRange)

	_, err = version.SchemaCheck(orders, nil)
	assert.ErrorContains(t, err, "nil version function")
	bad := orders
	bad.Schema = "twelve"
	_, err = version.SchemaCheck(bad, func(context.Context) (int64, error) { return 0, nil })
	assert.ErrorContains(t, err, `manifest field "schema": "twelve"`)
}

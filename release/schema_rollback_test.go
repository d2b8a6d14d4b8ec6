package release_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
	"github.com/rollsafe/rollsafe/release"
)

func migrationsFS(irreversible bool) fstest.MapFS {
	mark := ""
	if irreversible {
		mark = "-- rollsafe:irreversible reason=\"drops the legacy column\"\n"
	}
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"00001_a.sql": file("-- +goose Up\nCREATE TABLE a (id INT);\n-- +goose Down\nDROP TABLE a;\n"),
		"00002_b.sql": file("-- +goose Up\nCREATE TABLE b (id INT);\n-- +goose Down\nDROP TABLE b;\n"),
		"00003_c.sql": file(mark + "-- +goose Up\nCREATE TABLE c (id INT);\n-- +goose Down\nDROP TABLE c;\n"),
		"00004_d.sql": file("-- +goose Up\nCREATE TABLE d (id INT);\n-- +goose Down\nDROP TABLE d;\n"),
	}
}

func TestRollbackSchema(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r, err := migrate.New(db.DB, db.Dialect, migrationsFS(true))
		require.NoError(t, err)
		_, err = r.Up(ctx)
		require.NoError(t, err)

		_, err = release.RollbackSchema(ctx, r, 0)
		require.ErrorIs(t, err, release.ErrNoSchemaFloor)

		// Floor 1, an irreversible migration at 3: only 4 goes; 3 and 2 stay.
		out, err := release.RollbackSchema(ctx, r, 1)
		require.NoError(t, err)
		assert.Equal(t, int64(4), out.From)
		assert.Equal(t, int64(3), out.To)
		require.Len(t, out.RolledBack, 1)
		assert.Equal(t, int64(4), out.RolledBack[0].Version)
		require.Len(t, out.Kept, 2)
		assert.Equal(t, release.KeptMigration{Version: 3, Name: "00003_c.sql", Why: "marked irreversible: drops the legacy column"}, out.Kept[0])
		assert.Equal(t, int64(2), out.Kept[1].Version)
		v, err := r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), v)

		// Again: nothing left to do above the irreversible one.
		out, err = release.RollbackSchema(ctx, r, 1)
		require.NoError(t, err)
		assert.Empty(t, out.RolledBack)
		assert.Equal(t, int64(3), out.To)
	})
}

func TestRollbackSchemaStopsAtTheFloor(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewSQLite(t)
	r, err := migrate.New(db.DB, db.Dialect, migrationsFS(false))
	require.NoError(t, err)
	_, err = r.Up(ctx)
	require.NoError(t, err)
	out, err := release.RollbackSchema(ctx, r, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), out.To)
	require.Len(t, out.RolledBack, 2)
	assert.Equal(t, []int64{4, 3}, []int64{out.RolledBack[0].Version, out.RolledBack[1].Version})
	assert.Empty(t, out.Kept, "the floor and below are not listed: they always stay")
	v, err := r.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "never below the floor")
}

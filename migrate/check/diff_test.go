package check_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate/check"
)

func ptr(s string) *string { return &s }

func TestDiff(t *testing.T) {
	users := func(mod func(*check.Table)) *check.Snapshot {
		tb := check.Table{
			Name: "users",
			Columns: []check.Column{
				{Name: "id", Type: "integer"},
				{Name: "email", Type: "text", Nullable: true},
			},
			PrimaryKey: &check.Index{Name: "users_pkey", Unique: true, Parts: []string{"id"}},
		}
		if mod != nil {
			mod(&tb)
		}
		return &check.Snapshot{Dialect: dialect.Postgres, Tables: []check.Table{tb}}
	}
	tests := []struct {
		name          string
		before, after *check.Snapshot
		want          []string
	}{
		{name: "equal", before: users(nil), after: users(nil)},
		{
			name: "column changed", before: users(nil),
			after: users(func(t *check.Table) { t.Columns[1].Nullable = false; t.Columns[1].Default = ptr("''") }),
			want:  []string{"column users.email: changed from `email text null` to `email text not null default ''`"},
		},
		{
			name: "column order only", before: users(nil),
			after: users(func(t *check.Table) { t.Columns[0], t.Columns[1] = t.Columns[1], t.Columns[0] }),
			want:  []string{"table users: reordered from `id, email` to `email, id`"},
		},
		{
			name: "index and check added, primary key removed", before: users(nil),
			after: users(func(t *check.Table) {
				t.PrimaryKey = nil
				t.Indexes = []check.Index{{Name: "users_by_email", Parts: []string{"email"}}}
				t.Checks = []check.CheckConstraint{{Name: "email_set", Expr: "email <> ''"}}
			}),
			want: []string{
				"primary key users.users_pkey: removed",
				"index users.users_by_email: added",
				"check users.email_set: added",
			},
		},
		{
			name: "table dropped, view and enum added", before: users(nil),
			after: &check.Snapshot{Dialect: dialect.Postgres,
				Views: []check.View{{Name: "v", Def: "SELECT 1", Columns: []string{"x"}}},
				Enums: []check.Enum{{Name: "mood", Values: []string{"ok"}}}},
			want: []string{"table users: removed", "view v: added", "enum mood: added"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range check.Diff(tt.before, tt.after) {
				got = append(got, c.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDescribeDiff(t *testing.T) {
	changes := []check.Change{
		{Op: check.Added, Kind: check.KindIndex, Table: "orders", Name: "orders_by_user"},
		{Op: check.Removed, Kind: check.KindView, Name: "recent"},
		{Op: check.Changed, Kind: check.KindColumn, Table: "users", Name: "email", Before: "email text null", After: "email text not null"},
	}
	assert.Equal(t, "index orders.orders_by_user: left behind by down\n"+
		"view recent: not restored by down\n"+
		"column users.email: was `email text null`, now `email text not null`\n",
		check.DescribeDiff(changes, "down"))
}

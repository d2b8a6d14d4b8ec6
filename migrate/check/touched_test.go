package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTouchedTables(t *testing.T) {
	snap := &Snapshot{Tables: []Table{
		{Name: "users"},
		{Name: "orders", ForeignKeys: []ForeignKey{{Name: "f1", Columns: []string{"user_id"}, RefTable: "users"}}},
		{Name: "audit", ForeignKeys: []ForeignKey{{Name: "f2", Columns: []string{"order_id"}, RefTable: "orders", OnDelete: "CASCADE"}}},
		{Name: "tags"},
	}}
	names := func(ts []*Table) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	tests := []struct {
		name string
		m    migration
		want []string
	}{
		{"named tables only", migration{upSQL: "ALTER TABLE tags ADD COLUMN x int;", downSQL: "ALTER TABLE tags DROP COLUMN x;"}, []string{"tags"}},
		{"foreign-key actions reach children", migration{upSQL: "SELECT 1;", downSQL: "DELETE FROM Orders;"}, []string{"orders", "audit"}},
		{"cascade reaches every child", migration{upSQL: "SELECT 1;", downSQL: "TRUNCATE users CASCADE;"}, []string{"users", "orders", "audit"}},
		{"go migrations touch everything", migration{goMig: true}, []string{"users", "orders", "audit", "tags"}},
		{"a procedure call may write anywhere", migration{upSQL: "CALL archive_tags();", downSQL: "CALL restore_tags();"}, []string{"users", "orders", "audit", "tags"}},
		{"a DO block may write anywhere", migration{upSQL: "DO $$ BEGIN PERFORM 1; END $$;", downSQL: "SELECT 1;"}, []string{"users", "orders", "audit", "tags"}},
		{"dynamic SQL may write anywhere", migration{upSQL: "SELECT 1;", downSQL: "EXECUTE stmt;"}, []string{"users", "orders", "audit", "tags"}},
		{"a word that only contains call does not", migration{upSQL: "ALTER TABLE tags ADD COLUMN recall int;", downSQL: "ALTER TABLE tags DROP COLUMN recall;"}, []string{"tags"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ElementsMatch(t, tt.want, names(touchedTables(&tt.m, snap)))
		})
	}
	withTrigger := *snap
	withTrigger.Triggers = []Trigger{{Name: "tg", Table: "tags", Def: "..."}}
	assert.Len(t, touchedTables(&migration{upSQL: "UPDATE tags SET x = 1;"}, &withTrigger), 4, "a trigger may write anywhere")
}

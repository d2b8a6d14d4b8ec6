package check

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
)

type cachedView struct {
	key     string
	columns []string
}

var reWord = regexp.MustCompile(`\w+`)

// The open-source atlas does not inspect views, triggers or PostgreSQL
// sequences; this file reads them from each dialect's catalog.

func (in *inspector) catalog(ctx context.Context, s *Snapshot) error {
	var err error
	switch in.dialect {
	case dialect.SQLite:
		err = in.sqliteCatalog(ctx, s)
	case dialect.Postgres:
		_, err = in.postgresCatalog(ctx, s, map[string]string{}, map[[2]string]bool{})
	case dialect.MySQL:
		err = in.mysqlCatalog(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("check: read %s catalog: %w", in.dialect, err)
	}
	return nil
}

func (in *inspector) sqliteCatalog(ctx context.Context, s *Snapshot) error {
	objs, err := in.sqliteObjects(ctx)
	if err != nil {
		return err
	}
	return in.sqliteViewsTriggers(ctx, objs, s)
}

// sqliteObject is one row of sqlite_master.
type sqliteObject struct{ typ, name, table, sql string }

func (in *inspector) sqliteObjects(ctx context.Context) ([]sqliteObject, error) {
	rows, err := in.conn.QueryContext(ctx, `SELECT type, name, tbl_name, sql FROM sqlite_master`)
	if err != nil {
		return nil, err
	}
	var objs []sqliteObject
	for rows.Next() {
		var o sqliteObject
		var def sql.NullString
		if err := rows.Scan(&o.typ, &o.name, &o.table, &def); err != nil {
			rows.Close()
			return nil, err
		}
		o.sql = def.String
		objs = append(objs, o)
	}
	return objs, closeRows(rows)
}

func (in *inspector) sqliteViewsTriggers(ctx context.Context, objs []sqliteObject, s *Snapshot) error {
	// A view's columns follow from its statement and the statements of the
	// tables and views it names, so they are read again only when one of
	// those changed.
	defs := map[string]string{}
	for _, o := range objs {
		if o.typ == "table" || o.typ == "view" {
			defs[o.name] = o.sql
		}
	}
	if in.viewCols == nil {
		in.viewCols = map[string]cachedView{}
	}
	for _, o := range objs {
		if ignoredTable(o.table) {
			continue
		}
		switch o.typ {
		case "view":
			var key strings.Builder
			key.WriteString(o.sql)
			for _, w := range reWord.FindAllString(o.sql, -1) {
				if d, ok := defs[w]; ok && w != o.name {
					key.WriteString("\x00" + d)
				}
			}
			cols := in.viewCols[o.name].columns
			if in.viewCols[o.name].key != key.String() {
				var err error
				if cols, err = in.strings(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, o.name); err != nil {
					return err
				}
				in.viewCols[o.name] = cachedView{key: key.String(), columns: cols}
			}
			cols = slices.Clone(cols)
			s.Views = append(s.Views, View{Name: o.name, Def: collapseSpace(o.sql), Columns: cols})
		case "trigger":
			s.Triggers = append(s.Triggers, Trigger{Name: o.name, Table: o.table, Def: collapseSpace(o.sql)})
		}
	}
	return nil
}

// postgresObjects lists, in one round trip, a fingerprint of each table
// (its columns, constraints and indexes as the catalog prints them), and
// the enums, views, view columns, triggers and sequences of a schema, as
// (kind, name, a, b, c, d) rows. Identity sequences belong to their column and are left out; a
// serial column's sequence is listed with its owner.
//
// The schema's relations are found once and every other catalog is reached
// through its index on the relation: pg_class has no index on the schema,
// and on a server where many scratch schemas came and went (and no vacuum
// ran) a scan of it costs more than the rest of the query. So the relations
// of a schema made by a user (oid 16384 and up) are found through their
// dependency on it, which pg_depend indexes; only initdb's schemas (public,
// pg_catalog), whose objects may have no such entry, are scanned for.
// The LATERAL subqueries with OFFSET 0 keep the planner, which cannot tell
// how few relations a schema has, from scanning pg_constraint, pg_type or
// pg_trigger whole instead of looking each relation up.
const postgresObjects = `
WITH ns AS MATERIALIZED (SELECT oid FROM pg_namespace WHERE nspname = %[1]s),
rel AS MATERIALIZED (
  SELECT c.oid, c.relname, c.relkind
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
  WHERE (SELECT oid FROM ns) >= 16384
    AND d.refclassid = 'pg_namespace'::regclass AND d.refobjid = (SELECT oid FROM ns) AND d.refobjsubid = 0
    AND d.classid = 'pg_class'::regclass AND d.deptype = 'n' AND c.relnamespace = (SELECT oid FROM ns)
  UNION ALL
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
  WHERE (SELECT oid FROM ns) < 16384 AND c.relnamespace = (SELECT oid FROM ns)
)
SELECT 'enum'::text, t.typname::text, e.enumlabel::text, ''::text, ''::text, e.enumsortorder::float8
FROM (
  SELECT d.objid AS oid FROM pg_depend d
  WHERE (SELECT oid FROM ns) >= 16384
    AND d.refclassid = 'pg_namespace'::regclass AND d.refobjid = (SELECT oid FROM ns) AND d.refobjsubid = 0
    AND d.classid = 'pg_type'::regclass AND d.deptype = 'n'
  UNION ALL
  SELECT t.oid FROM pg_type t WHERE (SELECT oid FROM ns) < 16384 AND t.typnamespace = (SELECT oid FROM ns)
) nt CROSS JOIN LATERAL (
  SELECT t.oid, t.typname FROM pg_type t
  WHERE t.oid = nt.oid AND t.typnamespace = (SELECT oid FROM ns) AND t.typtype = 'e' OFFSET 0
) t JOIN pg_enum e ON e.enumtypid = t.oid
UNION ALL
SELECT 'table', c.relname, md5(
  coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' ||
      a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ':' || a.attidentity::text || ':' || a.attgenerated::text,
      ',' ORDER BY a.attnum)
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || '|' ||
  coalesce((SELECT string_agg(co.conname || ':' || pg_get_constraintdef(co.oid), ',' ORDER BY co.conname)
    FROM pg_constraint co WHERE co.conrelid = c.oid), '') || '|' ||
  coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY 1)
    FROM pg_index i WHERE i.indrelid = c.oid), '')), '', '', 0
FROM rel c WHERE c.relkind IN ('r', 'p')
UNION ALL
SELECT 'notvalid', c.relname, co.conname, '', '', 0
FROM rel c CROSS JOIN LATERAL (
  SELECT co.conname FROM pg_constraint co
  WHERE co.conrelid = c.oid AND co.contype = 'c' AND NOT co.convalidated OFFSET 0
) co
UNION ALL
SELECT 'view', c.relname, pg_get_viewdef(c.oid, true), '', '', 0
FROM rel c WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'viewcol', c.relname, a.attname, '', '', a.attnum
FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'trigger', t.tgname, c.relname, pg_get_triggerdef(t.oid), '', 0
FROM rel c CROSS JOIN LATERAL (
  SELECT t.oid, t.tgname FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal OFFSET 0
) t
UNION ALL
SELECT 'sequence', sc.relname, format_type(s.seqtypid, NULL), s.seqstart || ' ' || s.seqincrement,
       COALESCE(oc.relname || '.' || a.attname, ''), CASE d.deptype WHEN 'i' THEN 1 ELSE 0 END
FROM rel sc JOIN pg_sequence s ON s.seqrelid = sc.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = sc.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class oc ON oc.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE sc.relkind = 'S'
ORDER BY 1, 2, 6`

// postgresCatalog reads the objects atlas does not into s, and the
// fingerprint of every table into fps; it returns every row as text for
// the snapshot's fingerprint.
func (in *inspector) postgresCatalog(ctx context.Context, s *Snapshot, fps map[string]string, notValid map[[2]string]bool) (string, error) {
	// The schema name is inlined: with a parameter, PostgreSQL soon plans
	// this query once for any schema, and that plan is many times slower.
	rows, err := in.conn.QueryContext(ctx, fmt.Sprintf(postgresObjects, "'"+strings.ReplaceAll(in.schema, "'", "''")+"'"))
	if err != nil {
		return "", err
	}
	var fp strings.Builder
	for rows.Next() {
		var kind, name, a, b, c string
		var ord float64
		if err := rows.Scan(&kind, &name, &a, &b, &c, &ord); err != nil {
			rows.Close()
			return "", err
		}
		fmt.Fprintf(&fp, "%s\x00%s\x00%s\x00%s\x00%s\x00%v\n", kind, name, a, b, c, ord)
		switch kind {
		case "table":
			if !ignoredTable(name) {
				fps[name] = name + "\x00" + a
			}
		case "notvalid":
			notValid[[2]string{name, a}] = true
		case "enum":
			if n := len(s.Enums); n == 0 || s.Enums[n-1].Name != name {
				s.Enums = append(s.Enums, Enum{Name: name})
			}
			e := &s.Enums[len(s.Enums)-1]
			e.Values = append(e.Values, a)
		case "view":
			s.Views = append(s.Views, View{Name: name, Def: collapseSpace(a)})
		case "viewcol":
			if v := s.View(name); v != nil {
				v.Columns = append(v.Columns, a)
			}
		case "trigger":
			if !ignoredTable(a) {
				s.Triggers = append(s.Triggers, Trigger{Name: name, Table: a, Def: in.unqualify(collapseSpace(b))})
			}
		case "sequence":
			q := Sequence{Name: name, Type: a, OwnedBy: c}
			if _, err := fmt.Sscan(b, &q.Start, &q.Increment); err != nil {
				rows.Close()
				return "", fmt.Errorf("sequence %s: %w", name, err)
			}
			owner, _, _ := strings.Cut(c, ".")
			if ord == 1 || (owner != "" && ignoredTable(owner)) {
				continue
			}
			s.Sequences = append(s.Sequences, q)
		}
	}
	return fp.String(), closeRows(rows)
}

func (in *inspector) mysqlCatalog(ctx context.Context, s *Snapshot) error {
	rows, err := in.conn.QueryContext(ctx, `
SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS
WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`, in.schema)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v View
		if err := rows.Scan(&v.Name, &v.Def); err != nil {
			rows.Close()
			return err
		}
		v.Def = in.unqualify(collapseSpace(v.Def))
		s.Views = append(s.Views, v)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	for i := range s.Views {
		cols, err := in.strings(ctx, `
SELECT COLUMN_NAME FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, in.schema, s.Views[i].Name)
		if err != nil {
			return err
		}
		s.Views[i].Columns = cols
	}
	rows, err = in.conn.QueryContext(ctx, `
SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT
FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME`, in.schema)
	if err != nil {
		return err
	}
	for rows.Next() {
		var t Trigger
		var timing, event, body string
		if err := rows.Scan(&t.Name, &t.Table, &timing, &event, &body); err != nil {
			rows.Close()
			return err
		}
		t.Def = strings.ToLower(timing+" "+event) + " for each row " + in.unqualify(collapseSpace(body))
		if !ignoredTable(t.Table) {
			s.Triggers = append(s.Triggers, t)
		}
	}
	return closeRows(rows)
}

// unqualify removes the scratch schema's name from catalog text, so that the
// same definition reads the same in every scratch database.
func (in *inspector) unqualify(s string) string {
	for _, q := range []string{"`" + in.schema + "`.", `"` + in.schema + `".`, in.schema + "."} {
		s = strings.ReplaceAll(s, q, "")
	}
	return s
}

func (in *inspector) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := in.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	return out, closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

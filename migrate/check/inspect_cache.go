package check

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"ariga.io/atlas/sql/schema"
)

// Inspecting a whole schema through atlas costs dozens of catalog queries
// per table, and the check takes three snapshots per migration. Both SQLite
// and PostgreSQL can say cheaply, in one query, whether a table changed: a
// run inspects through atlas only the tables whose fingerprint it has not
// seen, and reuses the rest.

// sqliteSnapshot fingerprints each table by the statements SQLite keeps
// verbatim (and rewrites on every change) for it and its indexes.
func (in *inspector) sqliteSnapshot(ctx context.Context) (*Snapshot, error) {
	objs, err := in.sqliteObjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("check: inspect sqlite schema: %w", err)
	}
	prints := map[string]*strings.Builder{}
	var names []string
	for _, o := range objs {
		if o.typ == "table" && !ignoredTable(o.name) {
			prints[o.name] = &strings.Builder{}
			names = append(names, o.name)
		}
	}
	for _, o := range objs {
		if b, ok := prints[o.table]; ok && (o.typ == "table" || o.typ == "index") {
			b.WriteString(o.typ + " " + o.name + " " + o.sql + "\n")
		}
	}
	fps := make(map[string]string, len(prints))
	for n, b := range prints {
		fps[n] = b.String()
	}
	s := &Snapshot{Dialect: in.dialect}
	if err := in.cachedTables(ctx, s, names, fps); err != nil {
		return nil, err
	}
	if err := in.sqliteViewsTriggers(ctx, objs, s); err != nil {
		return nil, fmt.Errorf("check: read sqlite catalog: %w", err)
	}
	s.sort()
	// SQLite keeps every statement verbatim: equal statements, equal
	// schemas, and Diff need not compare the snapshots.
	all := make([]string, 0, len(objs))
	for _, o := range objs {
		if !ignoredTable(o.table) {
			all = append(all, o.typ+"\x00"+o.name+"\x00"+o.table+"\x00"+o.sql)
		}
	}
	slices.Sort(all)
	s.fingerprint = strings.Join(all, "\n")
	return s, nil
}

func (in *inspector) postgresSnapshot(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{Dialect: in.dialect}
	fps := map[string]string{}
	notValid := map[[2]string]bool{}
	objects, err := in.postgresCatalog(ctx, s, fps, notValid)
	if err != nil {
		return nil, fmt.Errorf("check: inspect postgres schema %q: %w", in.schema, err)
	}
	names := make([]string, 0, len(fps))
	for n := range fps {
		names = append(names, n)
	}
	slices.Sort(names)
	if err := in.cachedTables(ctx, s, names, fps); err != nil {
		return nil, err
	}
	for i := range s.Tables {
		for j := range s.Tables[i].Checks {
			c := &s.Tables[i].Checks[j]
			c.NotValid = notValid[[2]string{s.Tables[i].Name, c.dbName}]
		}
	}
	s.sort()
	s.fingerprint = objects
	return s, nil
}

// cachedTables adds the tables names to s, inspecting through atlas those
// whose fingerprint (fps) is not cached.
func (in *inspector) cachedTables(ctx context.Context, s *Snapshot, names []string, fps map[string]string) error {
	if in.tables == nil {
		in.tables = map[string]*cachedTable{}
	}
	in.gen++
	var stale []string
	for _, n := range names {
		if _, ok := in.tables[fps[n]]; !ok {
			stale = append(stale, n)
		}
	}
	if len(stale) > 0 {
		sc, err := in.drv.InspectSchema(ctx, in.schema, &schema.InspectOptions{Mode: schema.InspectTables, Tables: stale})
		if err != nil {
			return fmt.Errorf("check: inspect %s schema %q: %w", in.dialect, in.schema, err)
		}
		for _, t := range sc.Tables {
			if fp, ok := fps[t.Name]; ok {
				in.tables[fp] = &cachedTable{table: in.table(t)}
			}
		}
	}
	for _, n := range names {
		ct, ok := in.tables[fps[n]]
		if !ok {
			return fmt.Errorf("check: inspect %s schema: table %s vanished during inspection", in.dialect, n)
		}
		ct.used = in.gen
		s.Tables = append(s.Tables, cloneTable(ct.table))
	}
	// A migration step goes S0 → S1 → S0 → S1: keeping the tables of the
	// last few snapshots lets the down and the second up hit the cache.
	for fp, ct := range in.tables {
		if in.gen-ct.used > 4 {
			delete(in.tables, fp)
		}
	}
	return nil
}

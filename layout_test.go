package rollsafe_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/rollsafe/rollsafe"

// deps returns the packages pkg imports, directly or not, as go list sees
// them: non-standard ones by import path, and whether each is standard.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", module+"/"+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		m[path] = std == "true"
	}
	return m
}

// TestDialectHasNoDependencies: every package that talks SQL imports it, so
// it must cost nothing.
func TestDialectHasNoDependencies(t *testing.T) {
	for path, std := range deps(t, "dialect") {
		if !std && path != module+"/dialect" {
			t.Errorf("dialect imports %s", path)
		}
	}
}

// TestLeavesImportNoOtherLeaf: flags, migrate, version and health meet at
// function types and small interfaces, never by importing one another.
func TestLeavesImportNoOtherLeaf(t *testing.T) {
	for _, leaf := range []string{"flags", "migrate", "version", "health"} {
		for path := range deps(t, leaf) {
			rest, ok := strings.CutPrefix(path, module+"/")
			if !ok || rest == leaf || rest == "dialect" || strings.HasPrefix(rest, "internal/") {
				continue
			}
			t.Errorf("%s imports %s", leaf, path)
		}
	}
}

// TestVersionHasNoDatabase: the registry lives in fleet; version negotiates
// over HTTP only.
func TestVersionHasNoDatabase(t *testing.T) {
	if _, ok := deps(t, "version")["database/sql"]; ok {
		t.Error("version imports database/sql")
	}
}

// TestLibrariesImportNoSQLDriver: a service imports the driver it uses.
func TestLibrariesImportNoSQLDriver(t *testing.T) {
	drivers := []string{"github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"}
	for _, pkg := range []string{"dialect", "flags", "migrate", "version", "health", "fleet"} {
		for path := range deps(t, pkg) {
			for _, d := range drivers {
				if strings.HasPrefix(path, d) {
					t.Errorf("%s imports the driver %s", pkg, path)
				}
			}
		}
	}
}

// TestOnlyPglistenImportsPgx: services on MySQL or SQLite never link pgx.
// Besides pglisten, only what no service imports may: the test harness,
// the commands and the examples (and the bench module, outside ./...).
func TestOnlyPglistenImportsPgx(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s/...: %v\n%s", module, err, out)
	}
	allowed := func(rest string) bool {
		return rest == "flags/flagstore/pglisten" || rest == "internal/testdb" ||
			strings.HasPrefix(rest, "cmd/") || strings.HasPrefix(rest, "examples/")
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, depList, _ := strings.Cut(line, " ")
		rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		checked++
		if allowed(rest) {
			continue
		}
		for _, dep := range strings.Fields(depList) {
			if strings.HasPrefix(dep, "github.com/jackc/pgx") {
				t.Errorf("%s imports %s", pkg, dep)
				break
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list found %d packages; expected the whole module", checked)
	}
	if !hasPrefixKey(deps(t, "flags/flagstore/pglisten"), "github.com/jackc/pgx/") {
		t.Error("pglisten does not import pgx: the test above proves nothing")
	}
}

func hasPrefixKey(m map[string]bool, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

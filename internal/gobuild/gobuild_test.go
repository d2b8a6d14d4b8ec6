package gobuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildMakesABinaryThatRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "service")
	if err := Build(context.Background(), "github.com/rollsafe/rollsafe/examples/service", bin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-h").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "-addr") {
		t.Fatalf("the built binary: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-demo-fault") {
		t.Errorf("the built binary's usage lacks --demo-fault:\n%s", out)
	}
}

func TestBuildErrorNamesThePackageAndCarriesTheOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x")
	err := Build(context.Background(), "github.com/rollsafe/rollsafe/no/such/package", out)
	if err == nil {
		t.Fatal("built a package that does not exist")
	}
	for _, want := range []string{"build github.com/rollsafe/rollsafe/no/such/package", "no/such/package"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Error("a binary was written")
	}
}

// Package gobuild builds a package of this module into a binary with the go
// tool: examples/fleet and the drill's tests start examples/service as real
// processes.
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Build runs `go build -o out pkg` from the current directory, with the go
// tool of the toolchain this binary was built with, or else the one on
// PATH. The error carries the tool's output.
func Build(ctx context.Context, pkg, out string) error {
	tool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(tool); err != nil {
		if tool, err = exec.LookPath("go"); err != nil {
			return fmt.Errorf("build %s: no go tool in GOROOT or on PATH: %w", pkg, err)
		}
	}
	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, strings.TrimSpace(output.String()))
	}
	return nil
}

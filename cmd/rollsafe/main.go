// Command rollsafe is what CI pipelines and operators run: it checks migrations,
// flag files and version manifests, and drives migrations by hand.
//
// Every command is a thin layer over a rollsafe package that a Go program could
// call itself. Exit codes:
//
//	0  the command ran and found nothing wrong
//	1  the command ran and found something wrong (a finding, an incompatible or
//	   unreachable peer, an invalid flag file)
//	2  the command could not run (bad usage, unreadable input, a database that
//	   does not answer)
//
// Run "rollsafe help" for the list of commands and "rollsafe help COMMAND" for
// one of them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runEnv(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

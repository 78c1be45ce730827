// Command fifthwheel is the security gateway between a Transportation
// Management System and a fleet of autonomous trucks.
//
// This package is the CLI only: commands, flags, wiring and exit codes. Each
// command group lives in its own file (serve.go, config.go, store.go, ...);
// state.go holds what every command touching gateway state shares: the
// --config, --data and --store flags, loading the configuration and opening
// the store and the event bus.
//
// Exit codes: 0 success, 1 runtime error, 2 usage or configuration error.
// Errors are printed on stderr as "fifthwheel: <message>", naming what to fix.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fifthwheel/fifthwheel/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// app is what every command shares: its streams and environment. Commands
// never touch os.Stdout, os.Stderr or os.Environ directly, so tests can run
// them in-process.
type app struct {
	stdout  io.Writer
	stderr  io.Writer
	environ []string
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	a := &app{stdout: stdout, stderr: stderr, environ: environ}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	return a.report(err)
}

// usageError marks an error the user fixes by changing the command line or
// the configuration (exit 2).
type usageError struct {
	err  error
	hint string // e.g. "see 'fifthwheel serve --help'"
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// report prints err as "fifthwheel: ..." lines and returns its exit code.
func (a *app) report(err error) int {
	code := exitRuntime
	var ue *usageError
	if errors.As(err, &ue) {
		code = exitUsage
	}
	var ces config.Errors
	if errors.As(err, &ces) {
		for _, ce := range ces {
			fmt.Fprintf(a.stderr, "fifthwheel: %v\n", ce)
		}
		if len(ces) > 1 {
			fmt.Fprintf(a.stderr, "fifthwheel: %d configuration errors\n", len(ces))
		}
	} else {
		fmt.Fprintf(a.stderr, "fifthwheel: %v\n", err)
	}
	if ue != nil && ue.hint != "" {
		fmt.Fprintf(a.stderr, "fifthwheel: %s\n", ue.hint)
	}
	return code
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fifthwheel/fifthwheel/internal/server"
)

// e2eParallel is how many parallel tests run at once unless -parallel says
// otherwise. The default, GOMAXPROCS, is 2 on a 2-core CI machine, but these
// end-to-end tests mostly wait (blackouts, comm-loss timers, polls): the
// package used about a third of the machine's CPU under -race, and 4 took
// its run from 504 s to 414 s (-race, a shared 2-core machine, runs taken
// back to back).
const e2eParallel = 4

// sequentialE2E: the tests that run simulated fleets with 1 s heartbeats
// (sim tms, the normal-run detection test) and the SIGKILL test (it builds
// the binary and drives trucks at 125 frames/s) do not call t.Parallel:
// Go runs them one at a time before the parallel tests resume, so their
// timing is not shared with four other gateways on two cores. Beside the
// others under -race they made false comm_lost and starved agents in make
// test.

// TestMain registers fifthwheel as a command the scripts can exec: the test
// binary runs run() when invoked under that name. It defaults -parallel to
// e2eParallel (an explicit -parallel, parsed by m.Run, still wins).
func TestMain(m *testing.M) {
	if err := flag.Set("test.parallel", strconv.Itoa(e2eParallel)); err != nil {
		panic(err)
	}
	testscript.Main(m, map[string]func(){
		"fifthwheel": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
		},
	})
}

// TestScripts runs the CLI end to end: testdata/script/*.txtar.
//
// Custom commands:
//
//	exitcode N PROG ARGS...  run PROG and require exit code N (stdout/stderr checkable after)
//	waitready DIR [TIMEOUT]  wait until DIR/serve.addrs exists and its ops /readyz answers 200;
//	                         then set $VEHICLE_ADDR, $TMS_ADDR and $OPS_ADDR
//	opsget DIR PATH          GET PATH on the ops listener from DIR/serve.addrs; prints "STATUS\nBODY"
//	sigterm                  send SIGTERM to every background command
//	mode PERM PATH           require PATH's permission bits to be PERM (octal)
//	capture VAR              set $VAR to the last command's stdout, trimmed
//	https DIR LISTENER METHOD PATH CRED [BODYFILE]
//	                         call LISTENER (vehicle or tms) of the gateway in DIR
//	                         over TLS 1.3, trusting DIR/pki/root.crt, presenting
//	                         the credential in directory CRED ("-": none);
//	                         prints "STATUS\nBODY", or "handshake refused: ..."
func TestScripts(t *testing.T) {
	// Parallel: each script runs in a work directory of its own, and its
	// commands in processes of their own (exec), on 127.0.0.1:0 listeners.
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"waitready": cmdWaitReady,
			"opsget":    cmdOpsGet,
			"sigterm":   cmdSigterm,
			"sighup":    cmdSighup,
			"sleep":     cmdSleep,
			"mode":      cmdMode,
			"capture":   cmdCapture,
			"https":     cmdHTTPS,
			"finding":   cmdFinding,
		},
	})
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

func readAddrs(ts *testscript.TestScript, dir string) (server.Addrs, error) {
	var a server.Addrs
	b, err := os.ReadFile(filepath.Join(ts.MkAbs(dir), "serve.addrs"))
	if err != nil {
		return a, err
	}
	err = json.Unmarshal(b, &a)
	return a, err
}

func cmdWaitReady(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitready DIR [TIMEOUT]")
	}
	timeout := 60 * time.Second // generous: race-built binaries start slowly on a busy 2-core CI
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		a, err := readAddrs(ts, args[0])
		if err != nil {
			last = err.Error()
		} else {
			resp, err := client.Get("http://" + a.Ops + "/readyz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ts.Setenv("VEHICLE_ADDR", a.Vehicle)
					ts.Setenv("TMS_ADDR", a.TMS)
					ts.Setenv("OPS_ADDR", a.Ops)
					return
				}
				last = resp.Status
			} else {
				last = err.Error()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("not ready after %v: %s", timeout, last)
}

func cmdOpsGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: opsget DIR PATH")
	}
	a, err := readAddrs(ts, args[0])
	ts.Check(err)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + a.Ops + args[1])
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n%s", resp.StatusCode, body)
}

func cmdSigterm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sigterm")
	}
	cmds := ts.BackgroundCmds()
	if len(cmds) == 0 {
		ts.Fatalf("sigterm: no background command")
	}
	for _, c := range cmds {
		ts.Check(c.Process.Signal(syscall.SIGTERM))
	}
}

// cmdSighup sends SIGHUP to the background commands (serve reloads its
// detection rules).
func cmdSighup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sighup")
	}
	for _, c := range ts.BackgroundCmds() {
		ts.Check(c.Process.Signal(syscall.SIGHUP))
	}
}

// cmdSleep waits DURATION (for a background gateway to notice a change
// it polls for).
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mode PERM PATH")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[1], got, want)
	}
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture VAR")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

func cmdHTTPS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 || len(args) > 6 {
		ts.Fatalf("usage: https DIR LISTENER METHOD PATH CRED [BODYFILE]")
	}
	dir := ts.MkAbs(args[0])
	a, err := readAddrs(ts, args[0])
	ts.Check(err)
	addr := map[string]string{"vehicle": a.Vehicle, "tms": a.TMS}[args[1]]
	if addr == "" {
		ts.Fatalf("https: listener %q: want vehicle or tms", args[1])
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, "pki", "root.crt"))
	ts.Check(err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if args[4] != "-" {
		cred := ts.MkAbs(args[4])
		c, err := tls.LoadX509KeyPair(filepath.Join(cred, "cert.pem"), filepath.Join(cred, "key.pem"))
		ts.Check(err)
		tc.Certificates = []tls.Certificate{c}
	}
	var body io.Reader
	if len(args) == 6 {
		body = strings.NewReader(ts.ReadFile(args[5]))
	}
	req, err := http.NewRequest(args[2], "https://"+addr+args[3], body)
	ts.Check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := client.Do(req)
	if err != nil {
		// In TLS 1.3 the client learns of a refused certificate only when
		// it reads: the request fails with the server's alert.
		fmt.Fprintf(ts.Stdout(), "handshake refused: %v\n", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n%s", resp.StatusCode, b)
}

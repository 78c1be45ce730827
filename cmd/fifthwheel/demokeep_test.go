package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDemoKeep runs `fifthwheel demo --keep` (shortened), waits for what
// it prints about the gateway it keeps, and follows those instructions:
// the ops readiness URL answers, the data directory, its fleet CA and the
// operator credential exist, the printed request over the TMS listener
// with that credential gets through its mutual TLS (and none without it),
// and every CLI command it tells the user to try runs green against the running gateway (the vehicle list shows the
// demo's truck). Then Ctrl-C (the context) stops it: it says so, exits 0
// and removes its temporary directory.
func TestDemoKeep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep", "--vehicles", "1", "--blackout=false", "--duration", "2s",
			"--only", "telemetry-replay", "--report", t.TempDir()}, &out, &errb, nil)
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "fifthwheel drill --data") {
		select {
		case code := <-done:
			t.Fatalf("the demo exited (%d) before it printed how to reach its gateway\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
		case <-deadline:
			t.Fatalf("the demo printed no instructions in 2 min\nstdout: %s\nstderr: %s", out.String(), errb.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	printed := out.String()
	t.Logf("the demo printed:\n%s", printed)

	field := func(label string) string {
		for _, l := range strings.Split(printed, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					return f[0]
				}
			}
		}
		t.Fatalf("the demo does not print its %s", label)
		return ""
	}
	dir, operator := field("data directory"), field("operator")
	for _, p := range []string{dir, dir + "/pki", operator} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("printed path %s: %v", p, err)
		}
	}
	ops := field("ops")
	resp, err := http.Get(ops + "/readyz")
	if err != nil {
		t.Errorf("GET %s/readyz: %v", ops, err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/readyz: %s", ops, resp.Status)
		}
	}

	// The curl over the TMS listener, done here in Go with exactly the
	// printed files and URL: the operator credential opens the listener
	// (the API answers 501 problem+json until it lands); no credential,
	// no connection.
	var curl []string
	for _, l := range strings.Split(printed, "\n") {
		if rest, ok := strings.CutPrefix(l, "  curl --cacert "); ok {
			curl = strings.Fields("--cacert " + rest)
		}
	}
	if len(curl) != 7 || curl[2] != "--cert" || curl[4] != "--key" {
		t.Fatalf("the demo prints no request over the TMS listener with the operator credential (%q)", curl)
	}
	caPEM, err := os.ReadFile(curl[1])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", curl[1])
	}
	opCert, err := tls.LoadX509KeyPair(curl[3], curl[5])
	if err != nil {
		t.Fatal(err)
	}
	for _, withCert := range []bool{true, false} {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
		if withCert {
			cfg.Certificates = []tls.Certificate{opCert}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(curl[6])
		switch {
		case withCert && err != nil:
			t.Errorf("GET %s with the operator credential: %v", curl[6], err)
		case withCert:
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotImplemented || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("GET %s with the operator credential: %s %s, want 501 problem+json", curl[6], resp.Status, resp.Header.Get("Content-Type"))
			}
		case err == nil:
			resp.Body.Close()
			t.Errorf("GET %s without a credential: %s, want the handshake refused", curl[6], resp.Status)
		}
		c.CloseIdleConnections()
	}

	var cmds [][]string
	for _, l := range strings.Split(printed, "\n") {
		if rest, ok := strings.CutPrefix(l, "  fifthwheel "); ok {
			cmds = append(cmds, strings.Fields(rest))
		}
	}
	if len(cmds) == 0 {
		t.Fatal("the demo prints no CLI command to try")
	}
	for _, args := range cmds {
		r := cli(t, nil, args...)
		if r.code != exitOK {
			t.Errorf("fifthwheel %s (as printed): exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			continue
		}
		if args[0] == "vehicle" && args[1] == "list" && !strings.Contains(r.stdout, demoPrefix+"-") {
			t.Errorf("the vehicle list does not show the demo's truck:\n%s", r.stdout)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after Ctrl-C, want 0\nstderr: %s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the demo did not stop within a minute of Ctrl-C")
	}
	if !strings.Contains(out.String(), "stopping the gateway") {
		t.Error("the demo did not say it stopped the gateway")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary directory %s is still there (%v)", dir, err)
	}
}

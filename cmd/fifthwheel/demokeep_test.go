package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
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
		done <- run(ctx, []string{"demo", "--keep", "--vehicles", "1", "--blackout=false", "--hazmat=false", "--duration", "2s",
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

	// The two curls over the TMS listener, done here in Go with exactly
	// the printed files and URLs: the operator credential gets a token
	// bound to it, and the token with the credential lists the demo's
	// trucks; no token is 401, no credential 403.
	var curls [][]string
	for _, l := range strings.Split(printed, "\n") {
		if rest, ok := strings.CutPrefix(l, "  curl --cacert "); ok {
			curls = append(curls, strings.Fields("--cacert "+rest))
		}
	}
	if len(curls) != 2 || len(curls[0]) != 9 || curls[0][2] != "--cert" || curls[0][4] != "--key" || curls[0][6] != "-d" ||
		len(curls[1]) != 11 || curls[1][6] != "-H" {
		t.Fatalf("the demo prints no token request and API call with the operator credential (%q)", curls)
	}
	caPEM, err := os.ReadFile(curls[0][1])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", curls[0][1])
	}
	opCert, err := tls.LoadX509KeyPair(curls[0][3], curls[0][5])
	if err != nil {
		t.Fatal(err)
	}
	client := func(withCert bool) *http.Client {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
		if withCert {
			cfg.Certificates = []tls.Certificate{opCert}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	resp, err = client(true).Post(curls[0][8], "application/x-www-form-urlencoded", strings.NewReader(curls[0][7]))
	if err != nil {
		t.Fatalf("POST %s: %v", curls[0][8], err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("POST %s with the operator credential: %s %v", curls[0][8], resp.Status, err)
	}
	list := func(withCert bool, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, curls[1][10], nil)
		if token != "" {
			req.Header.Set("Authorization", strings.TrimPrefix(strings.Replace(strings.Trim(strings.Join(curls[1][7:10], " "), `"`), "$TOKEN", token, 1), "Authorization: "))
		}
		resp, err := client(withCert).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", curls[1][10], err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := list(true, tok.AccessToken); code != http.StatusOK || !strings.Contains(body, `"vehicles":[{`) {
		t.Errorf("GET %s with the token: %d %s, want 200 and the demo's trucks", curls[1][10], code, body)
	}
	if code, body := list(true, ""); code != http.StatusUnauthorized {
		t.Errorf("GET %s without a token: %d %s, want 401", curls[1][10], code, body)
	}
	if code, body := list(false, tok.AccessToken); code != http.StatusForbidden {
		t.Errorf("GET %s with the token but no certificate: %d %s, want 403", curls[1][10], code, body)
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

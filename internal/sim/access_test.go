package sim

import (
	"strings"
	"testing"
	"time"
)

// TestAccessConfigRefusesBadRuns: the driver's configuration is checked
// before anything is provisioned.
func TestAccessConfigRefusesBadRuns(t *testing.T) {
	ok := AccessConfig{Gateway: Target{URL: "https://127.0.0.1:1", CAPEM: []byte("x")}, Clients: 2,
		Mode: AccessReads, Duration: 10 * time.Second}
	if err := ok.withDefaults().validate(); err != nil {
		t.Fatalf("a good config refused: %v", err)
	}
	for name, c := range map[string]func(*AccessConfig){
		"no clients":                 func(c *AccessConfig) { c.Clients = 0 },
		"too many clients":           func(c *AccessConfig) { c.Clients = MaxAccessClients + 1 },
		"unknown mode":               func(c *AccessConfig) { c.Mode = "writes" },
		"fresh tokens in token mode": func(c *AccessConfig) { c.Mode, c.FreshTokenEvery = AccessTokens, 10 },
		"negative fresh every":       func(c *AccessConfig) { c.FreshTokenEvery = -1 },
		"mix with one client":        func(c *AccessConfig) { c.Mode, c.Clients = AccessMix, 1 },
		"warm-up as long as the run": func(c *AccessConfig) { c.Warmup = c.Duration },
		"no gateway":                 func(c *AccessConfig) { c.Gateway = Target{} },
		"too many vehicles":          func(c *AccessConfig) { c.Vehicles = MaxAccessVehicles + 1 },
	} {
		c2 := ok
		c(&c2)
		if err := c2.withDefaults().validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAccessFailures: a 429 is the budget working; any other refusal, a
// transport error, a malformed answer or a run without success fails.
func TestAccessFailures(t *testing.T) {
	r := AccessReport{Mode: AccessReads, Tokens: AccessOps{OK: 3, Refused: map[string]int64{"http 429 access_rate_limited": 2}},
		Reads: AccessOps{OK: 10, Refused: map[string]int64{}}}
	if f := r.Failures(); len(f) != 0 {
		t.Errorf("429s alone fail the run: %v", f)
	}
	for _, reason := range []string{"http 401 access_token_invalid", "http 404 not_found", "error: timeout", "bad_response"} {
		r.Reads.Refused = map[string]int64{reason: 1}
		if f := r.Failures(); len(f) != 1 || !strings.Contains(f[0], reason) {
			t.Errorf("%s: failures %v", reason, f)
		}
	}
	r.Reads = AccessOps{Refused: map[string]int64{}}
	if f := r.Failures(); len(f) != 1 || !strings.Contains(f[0], "no read") {
		t.Errorf("a reads run without a read: failures %v", f)
	}
	r = AccessReport{Mode: AccessTokens}
	if f := r.Failures(); len(f) != 1 || !strings.Contains(f[0], "no token") {
		t.Errorf("a tokens run without a token: failures %v", f)
	}
}

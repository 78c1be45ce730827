package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
)

// publishedKeys reads the gateway frame keys g publishes, as a vehicle
// provisioning step would.
func publishedKeys(t *testing.T, g *gateway) []agent.GatewayFrameKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.pkiDir(), gwkey.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := agent.ParseGatewayFrameKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestGatewayKeyRotationEndToEnd: 'gateway key rotate' publishes a next
// key while serve keeps signing with the current one; 'gateway key
// promote' makes the running serve sign with the next key (its reload,
// within gwkey.ReloadInterval, no restart). A truck pinning both published
// keys stays supervised throughout; a truck pinning only the old key
// refuses the gateway's acks from then on (unknown_key) and counts misses;
// a truck pinning only the new key can connect once the gateway signs with
// it.
func TestGatewayKeyRotationEndToEnd(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, nil)
	old := publishedKeys(t, g)
	if len(old) != 1 {
		t.Fatalf("published before rotation: %+v", old)
	}
	g.mustCLI("gateway", "key", "rotate")
	both := publishedKeys(t, g)
	if len(both) != 2 || both[0].KID != old[0].KID {
		t.Fatalf("published after rotation: %+v", both)
	}
	fast := agent.Config{ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}
	trBoth := startTruck(t, g, "truck-1", truckOptions{frameKeys: both, agent: fast})
	trOld := startTruck(t, g, "truck-2", truckOptions{frameKeys: old, agent: fast})

	g.mustCLI("gateway", "key", "promote")
	// Connected only once the gateway's challenge is signed with the new
	// key: startTruck waits for it (30 s; the reload takes at most 5 s).
	startTruck(t, g, "truck-3", truckOptions{frameKeys: both[1:], agent: fast})
	if !strings.Contains(g.logs.String(), "gateway frame key promoted: signing with it now") {
		t.Errorf("serve did not log the promotion:\n%s", g.logs.String())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var misses int
		for _, e := range trOld.events.find(agent.EventHeartbeatMissed) {
			if e.Reason == agent.ReasonUnknownKey {
				misses = max(misses, e.Misses)
			}
		}
		if misses >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the truck pinning only the old key did not refuse the gateway's acks: %+v", trOld.events.find(agent.EventGatewayFrameRejected))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rej := trBoth.events.find(agent.EventGatewayFrameRejected); len(rej) != 0 {
		t.Fatalf("the truck pinning both keys refused gateway frames: %+v", rej)
	}
	if st := trBoth.a.Status(); !st.Connected || st.Misses != 0 {
		t.Fatalf("the truck pinning both keys after the promotion: %+v", st)
	}
}

package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/session"
)

// The typed-close tests run the real `fifthwheel serve` (run(), the
// binary's own wiring) and a truck on the public agent SDK, and cut the
// truck off mid-session with the CLI. Before the serve wiring gave the
// session its tracker, the binary dropped the TCP connection instead: the
// truck saw a network error, never "revoked" or "suspended", and the
// gateway declared a false comm_lost.

// typedCloseEnv is the gateways' heartbeat for these tests: the fastest
// allowed (500 ms, 2 misses), so the liveness deadline a false comm_lost
// would follow is 1 s.
var typedCloseEnv = []string{"FIFTHWHEEL_HEARTBEAT_INTERVAL=500ms", "FIFTHWHEEL_HEARTBEAT_MISSES=2"}

// typedCloseAgent is the trucks' agent: the gateways' heartbeat, and no
// renewal during the test.
var typedCloseAgent = agent.Config{HeartbeatInterval: typedCloseInterval, Misses: typedCloseMisses, DisableRenewal: true}

const (
	typedCloseInterval = 500 * time.Millisecond
	typedCloseMisses   = 2
	// commLostWatch is how long after the close the tests watch for a
	// comm_lost: the liveness deadline (1 s) plus a margin of 2 s for a
	// loaded CI machine (the monitor ticks every 50 ms).
	commLostWatch = typedCloseMisses*typedCloseInterval + 2*time.Second
)

// typedCloseGateways returns the gateway the operator's command goes
// through (ctl) and the one the truck is connected to (gw): on SQLite one
// gateway; on PostgreSQL two sharing the store and the CA directory, so the
// cut-off crosses replicas.
func typedCloseGateways(t *testing.T, engine string) (ctl, gw *gateway) {
	if engine == "sqlite" {
		data := filepath.Join(t.TempDir(), "d")
		g := startGateway(t, data, []string{"--data", data}, typedCloseEnv)
		return g, g
	}
	return pgReplicas(t, typedCloseEnv...)
}

// checkTypedClose checks how the truck's session ended: the agent's typed
// error, the WebSocket close status and reason it received, within the
// revocation SLA of start; then the gateway's events: the tracker's close
// event, the liveness monitor taking the truck offline for that cause, and
// no comm_lost for it, watched past the liveness deadline.
func checkTypedClose(t *testing.T, gw *gateway, tr *truck, start time.Time, kind error, status websocket.StatusCode,
	reason, closeEvent, cause string) {
	t.Helper()
	ev := tr.firstDisconnect()
	took := ev.Time.Sub(start)
	t.Logf("the truck's session ended %v after the command started: %v", took.Round(time.Millisecond), ev.Err)
	if !errors.Is(ev.Err, kind) || ev.Code != reason {
		t.Errorf("the agent reported %v (code %q), want %v with code %q", ev.Err, ev.Code, kind, reason)
	}
	var ce websocket.CloseError
	if !errors.As(ev.Err, &ce) || ce.Code != status || ce.Reason != reason {
		t.Errorf("close %+v, want status %d reason %q", ce, status, reason)
	}
	if took > revocationSLA {
		t.Errorf("closed %v after the command started, want ≤ %v", took, revocationSLA)
	}
	urn := "urn:fifthwheel:vehicle:truck-1"
	gw.waitEvent(closeEvent, urn)
	time.Sleep(commLostWatch)
	for _, e := range gw.events(codes.CommLost) {
		if strings.Contains(string(e.Body), urn) {
			t.Errorf("false comm_lost for the truck cut off by the gateway: %s", e.Body)
		}
	}
	var offline []string
	for _, e := range gw.events(codes.VehicleOffline) {
		if strings.Contains(string(e.Body), urn) {
			offline = append(offline, string(e.Body))
		}
	}
	if len(offline) != 1 || !strings.Contains(offline[0], `"cause":"`+cause+`"`) {
		t.Errorf("vehicle_offline events %q, want one with cause %q", offline, cause)
	}
}

// TestRevokedTruckSessionGetsTypedClose: `pki revoke --vehicle` while the
// truck is in session closes the session with 4003 session_closed_revoked
// within the revocation SLA; the agent reports revoked; the gateway records
// the close and takes the truck offline with cause revoked, never
// comm_lost. On PostgreSQL the revocation goes through one gateway and the
// session is on the other.
func TestRevokedTruckSessionGetsTypedClose(t *testing.T) {
	// Sequential (no t.Parallel): it asserts revocationSLA, which a
	// parallel neighbour's load could break.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctl, gw := typedCloseGateways(t, engine)
			tr := startTruck(t, gw, "truck-1", truckOptions{issuer: ctl, agent: typedCloseAgent})
			start := time.Now()
			ctl.mustCLI("pki", "revoke", "--vehicle", "truck-1", "--reason", "key_compromise")
			checkTypedClose(t, gw, tr, start, agent.ErrRevoked, session.CloseRevoked, codes.SessionClosedRevoked,
				codes.SessionClosedRevoked, "revoked")
		})
	}
}

// TestSuspendedTruckSessionGetsTypedClose: `vehicle suspend` while the truck
// is in session closes the session with 4005 vehicle_suspended within 1 s
// (the revocation SLA; on SQLite one 200 ms poll, on PostgreSQL a NOTIFY);
// the agent reports suspended; the gateway records the close and takes the
// truck offline with cause suspended, never comm_lost. On PostgreSQL the
// suspension goes through one gateway and the session is on the other.
func TestSuspendedTruckSessionGetsTypedClose(t *testing.T) {
	// Sequential (no t.Parallel): it asserts revocationSLA, which a
	// parallel neighbour's load could break.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctl, gw := typedCloseGateways(t, engine)
			tr := startTruck(t, gw, "truck-1", truckOptions{issuer: ctl, agent: typedCloseAgent})
			start := time.Now()
			ctl.mustCLI("vehicle", "suspend", "truck-1")
			checkTypedClose(t, gw, tr, start, agent.ErrSuspended, session.CloseRefused, "vehicle_suspended",
				codes.SessionClosedSuspended, "suspended")
		})
	}
}

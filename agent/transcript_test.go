package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/frame"
)

// The session transcript vectors (testdata/session, docs/PROTOCOL.md),
// written by the gateway's test (internal/session TestSessionTranscriptVectors)
// and read here as another implementation would read them.
type transcriptFile struct {
	VehicleID string `json:"vehicle_id"`
	Keys      []struct {
		Role       string `json:"role"`
		KID        string `json:"kid"`
		PrivateHex string `json:"private_hex_TEST_ONLY"`
		PublicPEM  string `json:"public_pem"`
	} `json:"keys"`
	Nonces []struct {
		Use string `json:"use"`
		Hex string `json:"hex"`
	} `json:"nonces"`
	Settings struct {
		HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms"`
		HeartbeatMisses     int   `json:"heartbeat_misses"`
	} `json:"settings"`
	Messages []struct {
		From     string `json:"from"`
		Kind     string `json:"kind"`
		Envelope string `json:"envelope"`
	} `json:"messages"`
}

// transcriptClock is the agent's clock in the replay, set by the script.
type transcriptClock struct{ ns atomic.Int64 }

func (c *transcriptClock) now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *transcriptClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// TestSessionTranscript replays the published session transcript against
// the real agent: a scripted gateway sends the recorded gateway messages
// and requires every message the agent sends to be the recorded one, byte
// for byte. The agent gets the transcript's TEST-ONLY keys, its hello
// nonce, and a clock that shows each vehicle frame's recorded ts when the
// agent makes it. It must accept every gateway message (it ends resumed,
// having refused nothing): so the agent produces and accepts exactly these
// bytes.
func TestSessionTranscript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "session", "transcript-ed25519-resume.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr transcriptFile
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	var vehicleKey ed25519.PrivateKey
	var vehicleKID string
	var gatewayPEM, hello []byte
	for _, k := range tr.Keys {
		switch k.Role {
		case "vehicle":
			seed, err := hex.DecodeString(k.PrivateHex)
			if err != nil {
				t.Fatal(err)
			}
			vehicleKey, vehicleKID = ed25519.NewKeyFromSeed(seed), k.KID
		case "gateway":
			gatewayPEM = []byte(k.PublicPEM)
		}
	}
	for _, n := range tr.Nonces {
		if n.Use == "vehicle hello nonce" {
			hello, _ = hex.DecodeString(n.Hex)
		}
	}
	// ts of every vehicle message: the clock the agent must see when it
	// makes it.
	ts := make([]time.Time, len(tr.Messages))
	for i, m := range tr.Messages {
		env, err := frame.ParseEnvelope([]byte(m.Envelope))
		if err != nil {
			t.Fatal(err)
		}
		f, err := env.DecodeFrame()
		if err != nil {
			t.Fatal(err)
		}
		ts[i] = f.TS
	}
	nextVehicle := func(i int) int {
		for ; i < len(tr.Messages); i++ {
			if tr.Messages[i].From == "vehicle" {
				return i
			}
		}
		return -1
	}

	clk := &transcriptClock{}
	clk.set(ts[nextVehicle(0)])
	// The agent checks its certificate against its own clock, which shows
	// the transcript's time.
	pki := newTestPKIFor(t, tr.VehicleID, ts[0].Add(-time.Hour))
	result := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		result <- replayGateway(ws, tr, ts, clk, nextVehicle)
		// Keep the connection open (and read its heartbeats) until the
		// agent says goodbye.
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	pool := x509.NewCertPool()
	pool.AddCert(pki.root)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	av, evs := &testAV{}, &events{}
	a, err := New(Config{
		GatewayURL:        srv.URL,
		GatewayCAPEM:      pki.rootPEM,
		GatewayFrameKeys:  []GatewayFrameKey{{PublicKeyPEM: gatewayPEM}},
		HeartbeatInterval: time.Duration(tr.Settings.HeartbeatIntervalMS) * time.Millisecond,
		Misses:            tr.Settings.HeartbeatMisses,
		StateDir:          t.TempDir(),
		ReconnectMin:      time.Second,
		ReconnectMax:      2 * time.Second,
		DisableRenewal:    true,
	}, Identity{Chain: pki.chain, TLSKey: pki.tlsKey, FrameKey: vehicleKey, FrameKID: vehicleKID},
		Deps{SafeStater: av, OnEvent: evs.add, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	a.nonces = bytes.NewReader(hello) // one hello: a second connection would fail its nonce
	run(t, a)
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the replay did not finish; agent %+v, events %+v", a.Status(), evs.of(EventDisconnected))
	}
	waitUntil(t, 10*time.Second, "the agent resumed by the recorded resume", func() bool { return len(evs.of(EventResumed)) == 1 })
	if rej := evs.of(EventGatewayFrameRejected); len(rej) != 0 {
		t.Fatalf("the agent refused recorded gateway frames: %+v", rej)
	}
	if a.Mode() != ModeDriving || av.resumed() != 1 {
		t.Fatalf("mode %v, AV resumed %d times", a.Mode(), av.resumed())
	}
}

// replayGateway plays the gateway's side of the transcript on ws. Before
// each run of gateway messages it sets the agent's clock to the ts of the
// vehicle message that answers them.
func replayGateway(ws *websocket.Conn, tr transcriptFile, ts []time.Time, clk *transcriptClock, nextVehicle func(int) int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i, m := range tr.Messages {
		if m.From == "vehicle" {
			_, got, err := ws.Read(ctx)
			if err != nil {
				return fmt.Errorf("message %d (%s): reading the agent's: %v", i, m.Kind, err)
			}
			if string(got) != m.Envelope {
				return fmt.Errorf("message %d (%s): the agent sent\n%s\nwant\n%s", i, m.Kind, got, m.Envelope)
			}
			continue
		}
		if i == 0 || tr.Messages[i-1].From == "vehicle" {
			if j := nextVehicle(i); j >= 0 {
				clk.set(ts[j])
			}
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte(m.Envelope)); err != nil {
			return fmt.Errorf("message %d (%s): %v", i, m.Kind, err)
		}
	}
	return nil
}

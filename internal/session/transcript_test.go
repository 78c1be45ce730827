package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var update = flag.Bool("update", false, "regenerate the session transcript vectors in testdata/session")

// The session transcript vectors published for other implementations
// (docs/PROTOCOL.md, "Session transcript vectors"): one recorded session,
// hello → challenge → challenge_response → ready → heartbeat → ack →
// challenge → challenge_response → resume, with the TEST-ONLY keys and
// nonces it was made from. Package agent replays the same file against the
// real agent (agent/transcript_test.go).

const transcriptFile = "transcript-ed25519-resume.json"

type transcript struct {
	Comment     []string            `json:"comment"`
	Path        string              `json:"path"`
	Subprotocol string              `json:"subprotocol"`
	VehicleID   string              `json:"vehicle_id"`
	Keys        []transcriptKey     `json:"keys"`
	Nonces      []transcriptNonce   `json:"nonces"`
	Settings    transcriptSettings  `json:"settings"`
	Messages    []transcriptMessage `json:"messages"`
}

type transcriptKey struct {
	Role       string `json:"role"` // "vehicle" or "gateway"
	KID        string `json:"kid"`
	Alg        string `json:"alg"`
	Derivation string `json:"derivation"`
	PrivateHex string `json:"private_hex_TEST_ONLY"` // the Ed25519 seed
	PublicPEM  string `json:"public_pem"`
}

type transcriptNonce struct {
	Use        string `json:"use"`
	Derivation string `json:"derivation"`
	Hex        string `json:"hex"`
}

type transcriptSettings struct {
	HeartbeatIntervalMS    int64  `json:"heartbeat_interval_ms"`
	HeartbeatMisses        int    `json:"heartbeat_misses"`
	ClockSkewMS            int64  `json:"clock_skew_ms"`
	ResumeStableHeartbeats int    `json:"resume_stable_heartbeats"`
	GatewayEpoch           uint64 `json:"gateway_epoch"`
}

type transcriptMessage struct {
	From     string `json:"from"` // "vehicle" or "gateway"
	Kind     string `json:"kind"`
	Envelope string `json:"envelope"` // the WebSocket text message, exactly
}

// testSecret is SHA-256 of a public label: TEST-ONLY key and nonce material.
func testSecret(label string) []byte {
	h := sha256.Sum256([]byte("fifthwheel/session TEST-ONLY " + label))
	return h[:]
}

func testSecretDerivation(label string) string {
	return `SHA-256("fifthwheel/session TEST-ONLY ` + label + `")`
}

// nonceReader hands out the labelled TEST-ONLY nonces in order, and records
// their use.
type nonceReader struct {
	labels []string
	used   []transcriptNonce
}

func (r *nonceReader) Read(p []byte) (int, error) {
	if len(r.labels) == 0 || len(p) != sha256.Size {
		return 0, fmt.Errorf("nonceReader: %d nonces left, %d bytes asked", len(r.labels), len(p))
	}
	l := r.labels[0]
	r.labels = r.labels[1:]
	n := copy(p, testSecret(l))
	r.used = append(r.used, transcriptNonce{Use: l, Derivation: testSecretDerivation(l), Hex: hex.EncodeToString(p)})
	return n, nil
}

func pemOfPublic(t *testing.T, pub ed25519.PublicKey) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), der
}

// TestSessionTranscriptVectors records a session between a scripted vehicle
// and the real gateway (Handler, ingest pipeline, SQLite store) from fixed
// inputs: TEST-ONLY keys and nonces, a clock set at each step, heartbeat
// settings with an auto-resume after one stable heartbeat. The gateway's
// frames must be exactly the published file's, and the file must pass the
// documented checks (checkTranscript). -update rewrites the file.
func TestSessionTranscriptVectors(t *testing.T) {
	const vehicleID = "truck-0042"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i+1) * 10 * time.Millisecond) }
	cfg := Config{Interval: time.Second, Misses: 3, ResumeStableHeartbeats: 1}

	vSeed, gSeed := testSecret("vehicle frame key"), testSecret("gateway frame key")
	vPriv, gPriv := ed25519.NewKeyFromSeed(vSeed), ed25519.NewKeyFromSeed(gSeed)
	gk, err := gwkey.NewKey(gPriv)
	if err != nil {
		t.Fatal(err)
	}
	vPEM, vDER := pemOfPublic(t, vPriv.Public().(ed25519.PublicKey))
	vKID := ingest.DefaultKID(vDER)
	clk := newTestClock()
	clk.set(t0)
	nonces := &nonceReader{labels: []string{"gateway challenge nonce 1", "gateway challenge nonce 2"}}

	st := storetest.Engines()[0].Open(t)
	g := newGateway(t, st, gwOptions{cfg: cfg, noLiveness: true, now: clk.now, rand: nonces, key: gk})
	ctx := context.Background()
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: vehicleID, Status: "active", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: vehicleID, KID: vKID, Alg: "Ed25519", Material: vDER,
		Status: store.KeyActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := g.dial(g.certify(vehicleID, vPriv, vKID))

	tr := transcript{
		Comment: []string{
			"A recorded vehicle session (docs/PROTOCOL.md, \"Vehicle session\" and \"Session transcript vectors\").",
			"Each message is one WebSocket text message on /v1/vehicle/session (subprotocol fifthwheel.v1); envelope holds its exact bytes.",
			"Every key and nonce here is TEST-ONLY, derived from a public label. Never use them outside tests.",
			"Ed25519 signatures are deterministic: signing each vehicle frame with the vehicle key gives exactly the bytes shown.",
			"Generated by go test ./internal/session -run TestSessionTranscriptVectors -update; replayed against the agent by go test ./agent -run TestSessionTranscript.",
		},
		Path: Path, Subprotocol: Subprotocol, VehicleID: vehicleID,
		Keys: []transcriptKey{
			{Role: "vehicle", KID: vKID, Alg: "Ed25519", Derivation: testSecretDerivation("vehicle frame key"), PrivateHex: hex.EncodeToString(vSeed), PublicPEM: vPEM},
			{Role: "gateway", KID: gk.KID(), Alg: "Ed25519", Derivation: testSecretDerivation("gateway frame key"), PrivateHex: hex.EncodeToString(gSeed), PublicPEM: string(gk.PublicKeyPEM())},
		},
		Settings: transcriptSettings{HeartbeatIntervalMS: cfg.Interval.Milliseconds(), HeartbeatMisses: cfg.Misses,
			ClockSkewMS: agent.DefaultClockSkew.Milliseconds() /* the pipeline's default, which the handshake shares */, ResumeStableHeartbeats: cfg.ResumeStableHeartbeats, GatewayEpoch: uint64(t0.UnixMilli())},
	}
	hello := testSecret("vehicle hello nonce")
	var seq uint64
	vehicle := func(body frame.Body) {
		t.Helper()
		i := len(tr.Messages)
		env, err := frame.Sign(r.v.signer, vKID, &frame.Frame{VehicleID: vehicleID, Epoch: 0, Seq: seq, TS: at(i), Body: body})
		if err != nil {
			t.Fatal(err)
		}
		seq++
		clk.set(at(i + 1)) // the gateway's clock when it answers
		if err := r.write(env); err != nil {
			t.Fatal(err)
		}
		tr.Messages = append(tr.Messages, transcriptMessage{From: "vehicle", Kind: string(body.Kind()), Envelope: string(env)})
	}
	gateway := func(kind frame.Kind) *frame.Frame {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, data, err := r.c.Read(rctx)
		if err != nil {
			t.Fatalf("reading the gateway's %s: %v", kind, err)
		}
		env, err := frame.ParseEnvelope(data)
		if err != nil {
			t.Fatal(err)
		}
		f, err := env.DecodeFrame()
		if err != nil || f.Kind() != kind {
			t.Fatalf("the gateway sent %s (%v), want %s", data, err, kind)
		}
		tr.Messages = append(tr.Messages, transcriptMessage{From: "gateway", Kind: string(kind), Envelope: string(data)})
		return f
	}

	vehicle(&frame.Hello{Nonce: hello, State: frame.StateSafeState})
	ch := gateway(frame.KindChallenge).Body.(*frame.Challenge)
	vehicle(&frame.ChallengeResponse{Nonce: ch.Nonce})
	gateway(frame.KindReady)
	vehicle(&frame.Heartbeat{State: frame.StateSafeState})
	gateway(frame.KindAck)
	ch = gateway(frame.KindChallenge).Body.(*frame.Challenge)
	vehicle(&frame.ChallengeResponse{Nonce: ch.Nonce})
	gateway(frame.KindResume)

	tr.Nonces = append([]transcriptNonce{{Use: "vehicle hello nonce", Derivation: testSecretDerivation("vehicle hello nonce"),
		Hex: hex.EncodeToString(hello)}}, nonces.used...)
	checkTranscript(t, tr)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tr); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "testdata", "session", transcriptFile)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Fatalf("%s differs from the session the gateway records now: if the protocol changed on purpose, run go test ./internal/session -run TestSessionTranscriptVectors -update", path)
	}
	// The published file passes the checks on its own too.
	var published transcript
	if err := json.Unmarshal(have, &published); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, published)
}

// checkTranscript checks a transcript the way docs/PROTOCOL.md tells
// another implementation to: each envelope is canonical and verifies with
// the key of its sender under the kid it names; every frame is addressed to
// the vehicle; each sender's (epoch, seq) strictly increases; the bindings
// hold (a challenge echoes the hello nonce, a response and ready carry the
// challenge nonce, an ack echoes the heartbeat's (epoch, seq), a resume
// carries the nonce of the challenge answered just before it).
func checkTranscript(t *testing.T, tr transcript) {
	t.Helper()
	keys := map[string]transcriptKey{}
	for _, k := range tr.Keys {
		keys[k.Role] = k
	}
	var (
		hello, challenge, answered []byte
		last                       = map[string][2]uint64{}
		seen                       = map[string]bool{}
		heartbeat                  *frame.Frame
		kinds                      []string
	)
	for i, m := range tr.Messages {
		where := "message " + strconv.Itoa(i) + " (" + m.From + " " + m.Kind + ")"
		env, err := frame.ParseEnvelope([]byte(m.Envelope))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		k := keys[m.From]
		if env.KID != k.KID {
			t.Fatalf("%s: kid %q, want the %s key %q", where, env.KID, m.From, k.KID)
		}
		v, err := frame.ParsePublicKeyPEM(frame.AlgEd25519, []byte(k.PublicPEM))
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Verify(v); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		f, err := env.DecodeFrame()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if f.VehicleID != tr.VehicleID || string(f.Kind()) != m.Kind {
			t.Fatalf("%s: vehicle %q kind %q", where, f.VehicleID, f.Kind())
		}
		if p := last[m.From]; seen[m.From] && (f.Epoch < p[0] || f.Epoch == p[0] && f.Seq <= p[1]) {
			t.Fatalf("%s: (epoch, seq) (%d, %d) is not above (%d, %d)", where, f.Epoch, f.Seq, p[0], p[1])
		}
		seen[m.From], last[m.From] = true, [2]uint64{f.Epoch, f.Seq}
		if m.From == "gateway" && f.Epoch != tr.Settings.GatewayEpoch {
			t.Fatalf("%s: gateway epoch %d, want %d", where, f.Epoch, tr.Settings.GatewayEpoch)
		}
		switch b := f.Body.(type) {
		case *frame.Hello:
			hello = b.Nonce
		case *frame.Challenge:
			if !bytes.Equal(b.PeerNonce, hello) {
				t.Fatalf("%s: peer_nonce is not the hello nonce", where)
			}
			challenge = b.Nonce
		case *frame.ChallengeResponse:
			if !bytes.Equal(b.Nonce, challenge) {
				t.Fatalf("%s: does not answer the challenge", where)
			}
			answered = challenge
		case *frame.Ready:
			if !bytes.Equal(b.Nonce, answered) {
				t.Fatalf("%s: not bound to the answered challenge", where)
			}
		case *frame.Heartbeat:
			heartbeat = f
		case *frame.Ack:
			if heartbeat == nil || b.AckEpoch != heartbeat.Epoch || b.AckSeq != heartbeat.Seq {
				t.Fatalf("%s: does not echo the heartbeat", where)
			}
		case *frame.Resume:
			if !bytes.Equal(b.Nonce, answered) || bytes.Equal(answered, tr.firstChallenge(t)) {
				t.Fatalf("%s: not bound to the challenge answered after the handshake", where)
			}
		}
		kinds = append(kinds, m.From+" "+m.Kind)
	}
	want := []string{"vehicle hello", "gateway challenge", "vehicle challenge_response", "gateway ready", "vehicle heartbeat",
		"gateway ack", "gateway challenge", "vehicle challenge_response", "gateway resume"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("messages %v, want %v", kinds, want)
	}
}

// firstChallenge returns the nonce of the handshake's challenge.
func (tr transcript) firstChallenge(t *testing.T) []byte {
	t.Helper()
	for _, m := range tr.Messages {
		if m.Kind != string(frame.KindChallenge) {
			continue
		}
		env, _ := frame.ParseEnvelope([]byte(m.Envelope))
		f, err := env.DecodeFrame()
		if err != nil {
			t.Fatal(err)
		}
		return f.Body.(*frame.Challenge).Nonce
	}
	return nil
}

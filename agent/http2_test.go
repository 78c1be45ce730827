package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestBatchPathUsesHTTP2: the agent's HTTP requests to the gateway (the
// batch/backfill path, renewal) negotiate HTTP/2 when the gateway offers
// it: the transport gets the *tls.Conn itself, not a wrapper that hides the
// negotiated protocol. The session upgrade still runs over HTTP/1.1 on the
// same gateway, as a WebSocket upgrade must.
func TestBatchPathUsesHTTP2(t *testing.T) {
	pub, priv := frameKey(t)
	g := newFakeGW(t, pub, func(*fakeConn) {}) // its PKI and keys
	var batchProto, upgradeProto atomic.Int32
	var upgraded atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case TelemetryPath:
			batchProto.Store(int32(r.ProtoMajor))
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"results":[{"index":0,"verdict":"accepted"}]}`))
		case SessionPath:
			upgradeProto.Store(int32(r.ProtoMajor))
			ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
			if err != nil {
				return
			}
			upgraded.Store(true)
			ws.CloseNow()
		default:
			http.NotFound(w, r)
		}
	}))
	pool := x509.NewCertPool()
	pool.AddCert(g.pki.root)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{g.pki.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h1URL := g.srv.URL // the fake gateway: HTTP/1.1 only
	g.srv.URL = srv.URL
	a, _, _ := newTestAgent(t, g, priv)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := a.postFrames(ctx, []signedFrame{{epoch: 1, seq: 1, ts: time.Now(), env: []byte(`{}`)}})
	if err != nil || len(res) != 1 || res[0].Verdict != "accepted" {
		t.Fatalf("postFrames: %v, %v", res, err)
	}
	if p := batchProto.Load(); p != 2 {
		t.Fatalf("the batch request reached the gateway over HTTP/%d, want HTTP/2", p)
	}

	_ = a.runSession(ctx) // the gateway closes at once; only the upgrade matters
	if !upgraded.Load() || upgradeProto.Load() != 1 {
		t.Fatalf("session upgrade: upgraded %v over HTTP/%d, want a WebSocket upgrade over HTTP/1.1", upgraded.Load(), upgradeProto.Load())
	}

	// The gateway's refusal of the truck's certificate, an alert read on
	// the authenticated connection, is still typed on the batch path over
	// HTTP/1.1. Over HTTP/2 net/http can drop it (see gatewayRequest): it
	// is then a network error, never another refusal.
	other := newTestPKI(t)
	for _, url := range []string{h1URL, srv.URL} {
		b, err := New(Config{GatewayURL: url, GatewayCAPEM: g.pki.rootPEM, GatewayFrameKeys: []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}},
			StateDir: t.TempDir(), DisableRenewal: true},
			Identity{Chain: other.chain, TLSKey: other.tlsKey, FrameKey: priv, FrameKID: "k-test"}, Deps{SafeStater: &testAV{}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.postFrames(ctx, []signedFrame{{epoch: 1, seq: 1, ts: time.Now(), env: []byte(`{}`)}})
		if k := KindOf(err); !(k == KindNotEnrolled && errors.Is(err, ErrNotEnrolled)) && !(url == srv.URL && k == KindNetwork) {
			t.Fatalf("the gateway's unknown_ca alert on the batch path (%s) was reported as %v (kind %s), want not enrolled", url, err, k)
		}
	}
}

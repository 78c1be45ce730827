package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
	"github.com/fifthwheel/fifthwheel/internal/server"
	"github.com/fifthwheel/fifthwheel/internal/session"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// testGateway is a whole gateway vehicle side, assembled as `serve` does it
// through internal/server: the fleet CA in DIR/pki (KEK DIR/pki.kek), the
// vehicle listener with admission (every handshake reported and tracked)
// and anonymous enrollment, the ingest pipeline and batch path, the
// liveness monitor, the session handler with the gateway frame key in
// DIR/pki/gateway-frame-key.pem, and every event recorded in the store. It
// writes DIR/serve.addrs like serve, so `fifthwheel sim fleet --data DIR`
// finds it.
type testGateway struct {
	dir     string
	st      store.Store
	ca      *pki.CA
	bus     *event.Bus
	key     *gwkey.Key
	mon     *liveness.Monitor
	h       *session.Handler
	addrs   server.Addrs
	url     string
	rootPEM []byte
}

type gwOptions struct {
	dir      string // data directory; "" is a temporary one
	interval time.Duration
	misses   int
	log      *slog.Logger // nil discards
}

func startGateway(t testing.TB, st store.Store, o gwOptions) *testGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fatal := func(err error) {
		if err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	g := &testGateway{dir: o.dir, st: st}
	if g.dir == "" {
		g.dir = t.TempDir()
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g.bus = event.NewBus(log, nil, event.NewStoreSink(st))

	cfg := config.Default()
	cfg.DataDir = g.dir
	cfg.Listen.Vehicle, cfg.Listen.TMS, cfg.Listen.Ops = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if o.interval != 0 {
		cfg.Heartbeat.Interval = o.interval
	}
	if o.misses != 0 {
		cfg.Heartbeat.Misses = o.misses
	}

	kekPath := filepath.Join(g.dir, "pki.kek")
	if _, err := os.Stat(kekPath); err != nil {
		fatal(pki.CreateKeyFile(kekPath))
	}
	kek, err := pki.LoadKeyFileKEK(kekPath)
	fatal(err)
	caDir := filepath.Join(g.dir, config.DefaultPKIDir)
	if _, err := os.Stat(filepath.Join(caDir, "ca.json")); err != nil {
		_, err := pki.Init(pki.InitConfig{Dir: caDir}, kek)
		fatal(err)
	}
	reg := pki.NewStoreRegistry(st)
	g.ca, err = pki.Load(ctx, caDir, pki.Config{}, pki.Deps{KEK: kek, Registry: reg, Events: g.bus, Log: log})
	fatal(err)
	g.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.ca.Root().Raw})
	rs, err := pki.NewRevocationSet(reg, pki.RevocationConfig{PollInterval: cfg.PKI.RevocationPoll, MaxAge: cfg.PKI.RevocationMaxAge}, nil, log)
	fatal(err)
	fatal(rs.Refresh(ctx))
	rsDone := make(chan struct{})
	go func() { rs.Run(ctx); close(rsDone) }()
	tracker := pki.NewConnTracker(rs, g.bus)

	gwIs, gwKey, err := g.ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: principal.Principal{Kind: principal.Gateway, ID: "sim-gw"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, pki.ECDSAP256)
	fatal(err)
	gwCert := gwIs.TLSCertificate(gwKey)
	ldeps := pki.ListenerDeps{Trust: g.ca.Trust(), Revocations: rs, Events: g.bus,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &gwCert, nil }}
	vehicleTLS, err := pki.ServerTLSConfig(pki.ListenerConfig{Name: string(server.Vehicle), Allowed: []principal.Kind{principal.Vehicle}}, ldeps)
	fatal(err)
	tmsTLS, err := pki.ServerTLSConfig(pki.ListenerConfig{Name: string(server.TMS), Allowed: []principal.Kind{principal.Client, principal.Operator}}, ldeps)
	fatal(err)

	pipe, err := ingest.New(ingest.Config{ClockSkew: cfg.Telemetry.ClockSkew, Window: int64(cfg.Telemetry.Window)},
		ingest.Deps{Store: st, Events: g.bus})
	fatal(err)
	g.mon, err = liveness.New(liveness.Config{Interval: cfg.Heartbeat.Interval, Misses: cfg.Heartbeat.Misses},
		liveness.Deps{Events: g.bus, Log: log})
	fatal(err)
	monDone := make(chan struct{})
	go func() { _ = g.mon.Run(ctx); close(monDone) }()
	keys, _, err := gwkey.Open(caDir, kek) // where serve keeps them
	fatal(err)
	g.key = keys.Current()
	g.h, err = session.New(session.Config{Interval: cfg.Heartbeat.Interval, Misses: cfg.Heartbeat.Misses},
		session.Deps{Key: keys, Pipeline: pipe, Events: g.bus, Tracker: server.HijackTracker{},
			Liveness: session.LivenessMonitor(g.mon), Log: log})
	fatal(err)

	limiter := ratelimit.New(ratelimit.Config{PerSecond: float64(cfg.Telemetry.RatePerSecond), Burst: cfg.Telemetry.Burst})
	vehicleRoutes := server.Routes{
		"GET " + session.Path:        g.h,
		"POST /v1/vehicle/telemetry": &ingest.BatchHandler{Pipeline: pipe, Limiter: limiter, Events: g.bus, Peer: pki.Peer},
	}
	for p, h := range (&enroll.API{CA: g.ca, Store: st, Events: g.bus}).Routes() {
		vehicleRoutes[p] = h
	}
	srv, err := server.New(cfg, server.Deps{Log: log, Store: st, Events: g.bus, Registry: prometheus.NewRegistry(),
		VehicleTLS: vehicleTLS, TMSTLS: tmsTLS, VehicleRoutes: vehicleRoutes, TMSRoutes: server.Routes{}, OpsRoutes: server.Routes{},
		Admission: &server.Admission{HandshakeTimeout: cfg.TLS.HandshakeTimeout,
			Report: func(ctx context.Context, listener string, conn *tls.Conn, err error) (principal.Principal, error) {
				return pki.ReportHandshake(ctx, g.bus, listener, conn, err)
			},
			Track:     tracker.Track,
			Anonymous: map[server.Listener][]string{server.Vehicle: {"POST /v1/pki/enroll"}}}})
	fatal(err)
	fatal(srv.Listen())
	g.addrs = srv.Addrs()
	g.url = "https://" + g.addrs.Vehicle
	srvDone := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(srvDone) }()
	b, _ := json.Marshal(g.addrs)
	fatal(os.WriteFile(filepath.Join(g.dir, "serve.addrs"), b, 0o600))

	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		_ = g.h.Shutdown(sctx)
		cancel()
		<-srvDone
		_ = pipe.Close()
		<-monDone
		<-rsDone
		tracker.Stop()
		_ = os.Remove(filepath.Join(g.dir, "serve.addrs"))
	})
	return g
}

// target is what the fleet needs to reach the gateway.
func (g *testGateway) target() Target {
	return Target{URL: g.url, CAPEM: g.rootPEM,
		FrameKeys: []agent.GatewayFrameKey{{PublicKeyPEM: g.key.PublicKeyPEM()}}}
}

// provisioner enrolls trucks through the gateway's enrollment endpoint
// with join tokens from its CA: the public path.
func (g *testGateway) provisioner() Provisioner {
	return &EnrollProvisioner{Tokens: CAJoinTokens{CA: g.ca, By: principal.Principal{Kind: principal.System, ID: "sim-test"}},
		GatewayURL: g.url, GatewayCAPEM: g.rootPEM}
}

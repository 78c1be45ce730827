package sim

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// TestGatewayProcess runs the test gateway as a process of its own, for
// measurements at a scale one process cannot hold (10,000 trucks need
// 10,000 sockets on each side: 20,000 open files). It is skipped unless
// FW_SIM_GATEWAY_DIR names its data directory; it serves until SIGINT or
// SIGTERM, or for FW_SIM_GATEWAY_FOR (a Go duration). The store is SQLite
// in that directory, or PostgreSQL at FW_SIM_GATEWAY_STORE. The directory
// ends up as 'fifthwheel serve --dev' leaves one, so
//
//	go test -c -o /tmp/simgw.test ./internal/sim
//	FW_SIM_GATEWAY_DIR=/tmp/gw /tmp/simgw.test -test.run TestGatewayProcess -test.timeout 0 &
//	fifthwheel sim fleet --vehicles 10000 --data /tmp/gw
//
// measures the gateway as the simulator would measure serve.
func TestGatewayProcess(t *testing.T) {
	dir := os.Getenv("FW_SIM_GATEWAY_DIR")
	if dir == "" {
		t.Skip("set FW_SIM_GATEWAY_DIR to run the gateway as a process of its own")
	}
	cfg := store.Config{DataDir: dir, Create: true}
	if u := os.Getenv("FW_SIM_GATEWAY_STORE"); u != "" {
		cfg = store.Config{URL: u}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if d, err := time.ParseDuration(os.Getenv("FW_SIM_GATEWAY_FOR")); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the gateway's own cleanup
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g := startGateway(t, st, gwOptions{dir: dir, log: log})
	t.Logf("gateway: vehicle listener %s, data %s", g.addrs.Vehicle, dir)
	<-ctx.Done()
}

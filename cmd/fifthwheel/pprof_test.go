package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// The profiling endpoint has no authentication: it must refuse any address
// that is not loopback.
func TestPprofRefusesNonLoopback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		err := startPprof(ctx, addr, log)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("startPprof(%q) = %v, want a loopback-only refusal", addr, err)
		}
	}
	if err := startPprof(ctx, "127.0.0.1:0", log); err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
}

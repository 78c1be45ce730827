package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

// startDetect starts the detection engine (unless detect.enabled is false):
// the stream consumer "detect" and its rules file's reload on SIGHUP and on
// change. An invalid rules file stops serve before it listens. The
// returned stop ends the engine and waits for it, before the store closes.
func startDetect(ctx context.Context, cfg config.Config, st store.Store, events event.Emitter, reporter detect.Reporter,
	reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	if !cfg.Detect.Enabled {
		log.Warn("detection is disabled (detect.enabled: false)")
		return func() {}, nil
	}
	d, err := detect.New(detect.Config{Holder: replicaName(), RulesFile: cfg.DetectRulesPath()}, detect.Deps{
		Store: st, Events: events, Log: log, Reporter: reporter, Metrics: reg,
		OnError: func(err error) {
			log.Error("detection: the event stream consumer failed; retrying", slog.Any("err", err))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("detection rules: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = d.Reload(ctx) // logged and recorded as an event either way
			}
		}
	}()
	return func() { signal.Stop(hup); cancel(); <-done }, nil
}

// startStreamLag exports every stream consumer's lag (tail.Lag: the
// fifthwheel_stream_consumer_lag_* gauges), sampled from the store every
// second until stop (which waits for it, before the store closes).
func startStreamLag(ctx context.Context, st store.Store, reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	lag, err := tail.NewLag(st, reg, nil)
	if err != nil {
		return nil, fmt.Errorf("stream lag metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lag.Run(ctx, func(err error) {
			log.Warn("cannot sample the stream consumers' lag; the lag gauges are empty until it succeeds", slog.Any("err", err))
		})
	}()
	return func() { cancel(); <-done }, nil
}

// replicaName names this process for stream consumer leases: host, pid
// and a random suffix, so two processes never share a holder.
func replicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

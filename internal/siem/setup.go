package siem

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

// StartStore is what the sinks need of the store.
type StartStore interface {
	tail.Store
	DeadLetters
	EventStreamHead(ctx context.Context) (store.StreamPos, error)
	StreamConsumers(ctx context.Context) ([]store.StreamConsumer, error)
}

// Setup is what Start needs besides the configuration.
type Setup struct {
	Store   StartStore
	Events  event.Emitter // records siem_dead_lettered
	Log     *slog.Logger
	Product ocsf.Product
	Holder  string // this replica, unique per process
}

// drainTimeout bounds how long Stop waits for the sinks to deliver what
// was stored before it (the gateway's last events): a SIEM that is down
// must not hold a shutdown.
const drainTimeout = 3 * time.Second

// The sinks' stream consumer names: each sink's cursor and lease in the
// store (fifthwheel_stream_consumer_* metrics, dead letters) is under it.
const (
	SinkFile    = "sink:ocsf-file"
	SinkSyslog  = "sink:syslog"
	SinkWebhook = "sink:webhook"
	SinkNATS    = "sink:nats"
)

// Configured returns the consumer names of the sinks cfg configures, in
// Start's order.
func Configured(cfg config.Config) []string {
	var out []string
	if cfg.EventsPath() != "" {
		out = append(out, SinkFile)
	}
	if cfg.SIEM.Syslog.Address != "" {
		out = append(out, SinkSyslog)
	}
	if cfg.SIEM.Webhook.URL != "" {
		out = append(out, SinkWebhook)
	}
	if cfg.SIEM.NATS.URL != "" {
		out = append(out, SinkNATS)
	}
	return out
}

// Start builds the sinks cfg configures (the events file, syslog, the
// webhook, NATS) and runs them until Stop. A sink whose settings cannot be
// used (a CA file that does not read, a secret of the wrong size) refuses
// the start; a destination that is down does not (the sink retries).
func Start(ctx context.Context, cfg config.Config, s Setup) (stop func(), err error) {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	var sinks []Sink
	var closers []func() error
	fail := func(err error) (func(), error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}
	if path := cfg.EventsPath(); path != "" {
		f, err := NewFile(FileConfig{Path: path, MaxSize: cfg.Events.MaxSize, MaxAge: cfg.Events.MaxAge, Keep: cfg.Events.Keep,
			KeepAge: cfg.Events.KeepAge, Product: s.Product})
		if err != nil {
			return fail(fmt.Errorf("events.file: %v", err))
		}
		sinks, closers = append(sinks, f), append(closers, f.Close)
	}
	if sl := cfg.SIEM.Syslog; sl.Address != "" {
		pool, err := readCA(sl.CAFile)
		if err != nil {
			return fail(fmt.Errorf("siem.syslog.ca_file: %v", err))
		}
		sink, err := NewSyslog(SyslogConfig{Address: sl.Address, TLS: &tls.Config{RootCAs: pool, ServerName: sl.ServerName},
			Facility: sl.Facility, Hostname: sl.Hostname, SDID: sl.SDID, Product: s.Product})
		if err != nil {
			return fail(fmt.Errorf("siem.syslog: %v", err))
		}
		sinks, closers = append(sinks, sink), append(closers, sink.Close)
	}
	if wh := cfg.SIEM.Webhook; wh.URL != "" {
		secret, err := os.ReadFile(wh.SecretFile)
		if err != nil {
			return fail(fmt.Errorf("siem.webhook.secret_file: %v", err))
		}
		var tc *tls.Config
		if wh.CAFile != "" {
			pool, err := readCA(wh.CAFile)
			if err != nil {
				return fail(fmt.Errorf("siem.webhook.ca_file: %v", err))
			}
			tc = &tls.Config{RootCAs: pool}
		}
		sink, err := NewWebhook(WebhookConfig{URL: wh.URL, Secret: secret, TLS: tc, Batch: wh.Batch, MaxAttempts: wh.MaxAttempts,
			MaxAge: wh.MaxAge, Timeout: wh.Timeout, Product: s.Product}, WebhookDeps{Store: s.Store, Events: s.Events})
		clear(secret)
		if err != nil {
			return fail(fmt.Errorf("siem.webhook: %v", err))
		}
		sinks = append(sinks, sink)
	}
	if n := cfg.SIEM.NATS; n.URL != "" {
		var tc *tls.Config
		if n.CAFile != "" {
			pool, err := readCA(n.CAFile)
			if err != nil {
				return fail(fmt.Errorf("siem.nats.ca_file: %v", err))
			}
			tc = &tls.Config{RootCAs: pool}
		}
		sink, err := NewNATS(NATSConfig{URL: n.URL, TLS: tc, CredsFile: n.CredsFile, Prefix: n.SubjectPrefix, Stream: n.Stream, Product: s.Product})
		if err != nil {
			return fail(fmt.Errorf("siem.nats: %v", err))
		}
		sinks, closers = append(sinks, sink), append(closers, sink.Close)
	}
	if len(sinks) == 0 {
		return func() {}, nil
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Run(rctx, s.Store, RunConfig{Holder: s.Holder, OnError: func(sink string, err error) {
			s.Log.Warn("siem: delivery failed; retrying", slog.String("sink", sink), slog.Any("err", err))
		}}, sinks...)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			drain(ctx, s.Store, sinks)
			cancel()
			wg.Wait()
			for _, c := range closers {
				_ = c()
			}
		})
	}, nil
}

// drain waits, up to drainTimeout, until every sink's cursor has reached
// the stream's head as it is now.
func drain(ctx context.Context, st StartStore, sinks []Sink) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	head, err := st.EventStreamHead(dctx)
	if err != nil || head == 0 {
		return
	}
	for dctx.Err() == nil {
		cs, err := st.StreamConsumers(dctx)
		if err != nil {
			return
		}
		behind := 0
		for _, s := range sinks {
			for _, c := range cs {
				if c.Name == s.Name() && c.Pos < head {
					behind++
				}
			}
		}
		if behind == 0 {
			return
		}
		select {
		case <-dctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readCA reads a PEM file of CA certificates.
func readCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, errors.New("no CA file given")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}

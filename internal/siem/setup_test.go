package siem_test

import (
	"crypto/tls"
	"net/http/httptest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestConfigDefaultsAreTheSinks: config's defaults are the sinks' own.
func TestConfigDefaultsAreTheSinks(t *testing.T) {
	c := config.Default()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"events.max_size", c.Events.MaxSize, int64(siem.DefaultFileMaxSize)},
		{"events.max_age", c.Events.MaxAge, siem.DefaultFileMaxAge},
		{"events.keep", c.Events.Keep, siem.DefaultFileKeep},
		{"events.keep_age", c.Events.KeepAge, siem.DefaultFileKeepAge},
		{"siem.syslog.facility", c.SIEM.Syslog.Facility, siem.DefaultSyslogFacility},
		{"siem.syslog.sd_id", c.SIEM.Syslog.SDID, siem.DefaultSDID},
		{"siem.webhook.batch", c.SIEM.Webhook.Batch, siem.DefaultWebhookBatch},
		{"siem.webhook.max_attempts", c.SIEM.Webhook.MaxAttempts, siem.DefaultWebhookMaxAttempts},
		{"siem.webhook.max_age", c.SIEM.Webhook.MaxAge, siem.DefaultWebhookMaxAge},
		{"siem.webhook.timeout", c.SIEM.Webhook.Timeout, siem.DefaultWebhookTimeout},
		{"siem.nats.subject_prefix", c.SIEM.NATS.SubjectPrefix, siem.DefaultNATSPrefix},
		{"siem.nats.stream", c.SIEM.NATS.Stream, siem.DefaultNATSStream},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: config default %v, sink default %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestStartWritesTheEventsFile: Start, as serve calls it, runs the events
// file sink from the configuration, and Stop drains what was stored.
func TestStartWritesTheEventsFile(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	dir := t.TempDir()
	c := config.Default()
	c.DataDir = dir
	bus := event.NewBus(nil, nil, event.NewStoreSink(st))
	stop, err := siem.Start(ctx, c, siem.Setup{Store: st, Events: bus, Holder: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	ids := appendEvents(t, st, "s", 0, 5)
	stop()
	wantSequence := strings.Join(ids, ",")
	got := strings.Join(readAnyIDs(t, filepath.Join(dir, "events.jsonl")), ",")
	if got != wantSequence {
		t.Fatalf("events file: %s, want %s", got, wantSequence)
	}
	// A secret file of the wrong size refuses the start.
	c.SIEM.Webhook.URL = "https://siem.example/in"
	c.SIEM.Webhook.SecretFile = filepath.Join(dir, "short")
	if err := os.WriteFile(c.SIEM.Webhook.SecretFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := siem.Start(ctx, c, siem.Setup{Store: st, Events: bus, Holder: "h2"}); err == nil ||
		!strings.Contains(err.Error(), "siem.webhook") {
		t.Fatalf("a 5-byte secret: %v", err)
	}
}

// TestStartEverySink: the configuration serve reads starts every sink
// (CA and secret files read from disk), and each gets every event.
func TestStartEverySink(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	secretFile := filepath.Join(dir, "siem.secret")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	sl := newSyslogServer(t, ca.server, 0)
	rcv := &receiver{}
	srv := httptest.NewUnstartedServer(rcv)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	srv.StartTLS()
	defer srv.Close()
	ns := startNATS(t, -1, t.TempDir())
	defer ns.Shutdown()

	c := config.Default()
	c.DataDir = dir
	c.SIEM.Syslog.Address, c.SIEM.Syslog.CAFile = sl.ln.Addr().String(), caFile
	c.SIEM.Webhook.URL, c.SIEM.Webhook.SecretFile, c.SIEM.Webhook.CAFile = srv.URL, secretFile, caFile
	c.SIEM.NATS.URL = ns.ClientURL()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(nil, nil, event.NewStoreSink(st))
	stop, err := siem.Start(ctx, c, siem.Setup{Store: st, Events: bus, Holder: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	ids := appendEvents(t, st, "all", 0, 6)
	waitFor(t, "every sink", func() bool {
		cs, _ := st.StreamConsumers(ctx)
		done := 0
		for _, c := range cs {
			if c.Pos >= 6 {
				done++
			}
		}
		return done == 4
	})
	stop()
	want := strings.Join(ids, ",")
	for name, got := range map[string][]string{
		"file":    readAnyIDs(t, filepath.Join(dir, "events.jsonl")),
		"syslog":  distinct(sl.ids()),
		"webhook": distinct(rcv.got()),
	} {
		if strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %v", name, got, ids)
		}
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, siem.DefaultNATSStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	if info.State.Msgs != 6 {
		t.Errorf("NATS: %d messages, want 6", info.State.Msgs)
	}
}

// TestCatchUpFile: a CLI command brings the events file up to date as the
// file sink's consumer, unless a running gateway holds it.
func TestCatchUpFile(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	dir := t.TempDir()
	c := config.Default()
	c.DataDir = dir
	path := filepath.Join(dir, "events.jsonl")
	ids := appendEvents(t, st, "cli", 0, 3)
	// A gateway holds the consumer: the CLI leaves the file to it.
	if _, _, err := st.ClaimStreamConsumer(ctx, "sink:ocsf-file", "gateway", time.Minute, false); err != nil {
		t.Fatal(err)
	}
	if err := siem.CatchUpFile(ctx, c, st, "cli-1", ocsf.DefaultProduct); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Fatalf("the CLI wrote while a gateway held the sink: %s", b)
	}
	if err := st.ReleaseStreamConsumer(ctx, "sink:ocsf-file", "gateway"); err != nil {
		t.Fatal(err)
	}
	if err := siem.CatchUpFile(ctx, c, st, "cli-2", ocsf.DefaultProduct); err != nil {
		t.Fatal(err)
	}
	more := appendEvents(t, st, "cli", 3, 2)
	if err := siem.CatchUpFile(ctx, c, st, "cli-3", ocsf.DefaultProduct); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(readAnyIDs(t, path), ","), strings.Join(append(ids, more...), ","); got != want {
		t.Fatalf("events file %s, want %s", got, want)
	}
}

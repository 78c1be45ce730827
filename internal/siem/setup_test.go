package siem_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
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

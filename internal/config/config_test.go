package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// valid returns the defaults with a store location, the smallest complete
// configuration.
func valid() Config {
	c := Default()
	c.DataDir = "/var/lib/fifthwheel"
	return c
}

func fieldErrors(t *testing.T, err error) Errors {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) is not config.Errors", err, err)
	}
	return es
}

func TestDefaultsAreValidOnceAStoreIsChosen(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("defaults with data_dir: %v", err)
	}
	pg := Default()
	pg.StoreURL = "postgres://gw@db.internal:5432/fifthwheel"
	if err := pg.Validate(); err != nil {
		t.Fatalf("defaults with store_url: %v", err)
	}
	// Where state lives is never guessed: the bare defaults name exactly that.
	es := fieldErrors(t, Default().Validate())
	if len(es) != 1 || es[0].Path != "data_dir" {
		t.Fatalf("bare defaults: got %v, want one error at data_dir", es)
	}
}

func TestValidateRefusals(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		path   string
		msg    string
	}{
		{"heartbeat too fast floods cellular links", func(c *Config) { c.Heartbeat.Interval = 100 * time.Millisecond },
			"heartbeat.interval", "must be between 500ms and 3s"},
		{"heartbeat too slow misses the comm-loss budget", func(c *Config) { c.Heartbeat.Interval = 5 * time.Second },
			"heartbeat.interval", "must be between 500ms and 3s"},
		{"one miss trips safe state on a lost packet", func(c *Config) { c.Heartbeat.Misses = 1 },
			"heartbeat.misses", "must be between 2 and 10"},
		{"too many misses delay detection", func(c *Config) { c.Heartbeat.Misses = 11 },
			"heartbeat.misses", "must be between 2 and 10"},
		{"relative rules file without a data dir would fall back to the shipped rules", func(c *Config) {
			c.DataDir, c.StoreURL, c.Detect.RulesFile = "", "postgres://db/fw", "rules.yaml"
		}, "detect.rules_file", "a relative path needs data_dir (it is relative to it); give an absolute path"},
		{"tls downgrade to 1.2", func(c *Config) { c.TLS.MinVersion = "1.2" },
			"tls.min_version", "must be 1.3: TLS 1.2 and below are refused by design"},
		{"no header timeout allows slowloris", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 },
			"http.read_header_timeout", "must be more than 0s and at most 10m0s"},
		{"no read timeout", func(c *Config) { c.HTTP.ReadTimeout = 0 },
			"http.read_timeout", "must be more than 0s and at most 10m0s"},
		{"no write timeout", func(c *Config) { c.HTTP.WriteTimeout = -time.Second },
			"http.write_timeout", "must be more than 0s and at most 10m0s"},
		{"idle timeout of a day", func(c *Config) { c.HTTP.IdleTimeout = 24 * time.Hour },
			"http.idle_timeout", "must be more than 0s and at most 10m0s"},
		{"no shutdown timeout", func(c *Config) { c.HTTP.ShutdownTimeout = 0 },
			"http.shutdown_timeout", "must be more than 0s and at most 10m0s"},
		{"header timeout beyond read timeout", func(c *Config) {
			c.HTTP.ReadHeaderTimeout = 40 * time.Second
		}, "http.read_header_timeout", "must not be longer than http.read_timeout"},
		{"header flood", func(c *Config) { c.HTTP.MaxHeaderBytes = 8 << 20 },
			"http.max_header_bytes", "must be between 4096 and 1048576"},
		{"body flood", func(c *Config) { c.HTTP.MaxBodyBytes = 1 << 30 },
			"http.max_body_bytes", "must be between 1024 and 67108864"},
		{"zero body limit", func(c *Config) { c.HTTP.MaxBodyBytes = 0 },
			"http.max_body_bytes", "must be between 1024 and 67108864"},
		{"listen without port", func(c *Config) { c.Listen.Vehicle = "127.0.0.1" },
			"listen.vehicle", "must be host:port, e.g. 127.0.0.1:8443"},
		{"implicit all-interfaces bind", func(c *Config) { c.Listen.TMS = ":9443" },
			"listen.tms", "must name a host; use 0.0.0.0 or [::] to listen on every interface"},
		{"hostname bind depends on DNS", func(c *Config) { c.Listen.Ops = "gateway.example:9090" },
			"listen.ops", "host must be an IP address or localhost"},
		{"port out of range", func(c *Config) { c.Listen.Ops = "127.0.0.1:70000" },
			"listen.ops", "port must be a number from 0 to 65535"},
		{"two listeners on one port", func(c *Config) { c.Listen.TMS = c.Listen.Vehicle },
			"listen.tms", "is the same address as listen.vehicle"},
		{"unknown log level", func(c *Config) { c.Log.Level = "verbose" },
			"log.level", "must be one of debug, info, warn, error"},
		{"unknown log format", func(c *Config) { c.Log.Format = "xml" },
			"log.format", "must be json or text"},
		{"store url of another database", func(c *Config) { c.StoreURL = "mysql://u:hunter2@db/x" },
			"store_url", "must be a postgres:// or postgresql:// URL"},
		{"handshake never times out", func(c *Config) { c.TLS.HandshakeTimeout = 0 },
			"tls.handshake_timeout", "must be more than 0s and at most 1m0s"},
		{"unauthenticated request limit that never limits", func(c *Config) { c.TLS.UnauthenticatedRequestsPerSecond = 0 },
			"tls.unauthenticated_requests_per_second", "must be between 1 and 100000"},
		{"unauthenticated burst of zero", func(c *Config) { c.TLS.UnauthenticatedBurst = 0 },
			"tls.unauthenticated_burst", "must be between 1 and 100000"},
		{"events of unauthenticated peers not aggregated", func(c *Config) { c.Events.AggregateWindow = 0 },
			"events.aggregate_window", "must be between 1s and 5m0s"},
		{"aggregation window of an hour hides a flood from detection", func(c *Config) { c.Events.AggregateWindow = time.Hour },
			"events.aggregate_window", "must be between 1s and 5m0s"},
		{"silent sockets held as long as a handshake may take", func(c *Config) { c.TLS.ClientHelloTimeout = 20 * time.Second },
			"tls.client_hello_timeout", "must be more than 0s and at most tls.handshake_timeout"},
		{"no ClientHello deadline", func(c *Config) { c.TLS.ClientHelloTimeout = 0 },
			"tls.client_hello_timeout", "must be more than 0s and at most tls.handshake_timeout"},
		{"no per-source handshake bound", func(c *Config) { c.TLS.MaxPendingHandshakesPerSource = 0 },
			"tls.max_pending_handshakes_per_source", "must be between 1 and 4096"},
		{"one source may take every handshake slot", func(c *Config) { c.TLS.MaxPendingHandshakesPerSource = 5000 },
			"tls.max_pending_handshakes_per_source", "must be between 1 and 4096"},
		{"unbounded certificate-less connections per source", func(c *Config) { c.TLS.MaxUnauthenticatedConnsPerSource = 1 << 20 },
			"tls.max_unauthenticated_conns_per_source", "must be between 1 and 4096"},
		{"certificate-less connection idles for minutes", func(c *Config) { c.TLS.UnauthenticatedIdleTimeout = 2 * time.Minute },
			"tls.unauthenticated_idle_timeout", "must be between 100ms and 10s"},
		{"certificate-less idle deadline cuts enrollment", func(c *Config) { c.TLS.UnauthenticatedIdleTimeout = time.Millisecond },
			"tls.unauthenticated_idle_timeout", "must be between 100ms and 10s"},
		{"certificate-less connection lives for an hour", func(c *Config) { c.TLS.UnauthenticatedMaxLifetime = time.Hour },
			"tls.unauthenticated_max_lifetime", "must be at least tls.unauthenticated_idle_timeout and at most 10m0s"},
		{"lifetime shorter than the idle deadline", func(c *Config) { c.TLS.UnauthenticatedMaxLifetime = time.Second },
			"tls.unauthenticated_max_lifetime", "must be at least tls.unauthenticated_idle_timeout and at most 10m0s"},
		{"no CA directory", func(c *Config) { c.PKI.Dir = "" },
			"pki.dir", "must name the CA directory (default: pki, inside data_dir)"},
		{"gateway certificate without names", func(c *Config) { c.PKI.ServerNames = " , " },
			"pki.server_names", "must list at least one DNS name or IP address for the gateway's certificate"},
		{"wildcard server name", func(c *Config) { c.PKI.ServerNames = "*.example.com" },
			"pki.server_names", "each name must be an IP address or a DNS name of letters, digits, '-' and '.'"},
		{"revocation poll too slow for the 1 s promise", func(c *Config) { c.PKI.RevocationPoll = 2 * time.Second },
			"pki.revocation_poll", "must be between 10ms and 500ms"},
		{"revocation data trusted longer than a CRL", func(c *Config) { c.PKI.RevocationMaxAge = time.Hour },
			"pki.revocation_max_age", "must be longer than pki.revocation_poll and at most 5m0s"},
		{"revocation max age below the poll", func(c *Config) { c.PKI.RevocationMaxAge = 100 * time.Millisecond },
			"pki.revocation_max_age", "must be longer than pki.revocation_poll and at most 5m0s"},
		{"CRL URL with credentials", func(c *Config) { c.PKI.CRLURL = "http://u:hunter2@gw/pki/crl" },
			"pki.crl_url", "must be an http:// or https:// URL with a host and no query (relying parties fetch it)"},
		{"OCSP URL of another scheme", func(c *Config) { c.PKI.OCSPURL = "ldap://gw/ocsp" },
			"pki.ocsp_url", "must be an http:// or https:// URL with a host and no query (relying parties fetch it)"},
		{"renewal limit that never limits", func(c *Config) { c.PKI.RenewPerMinute = 0 },
			"pki.renew_per_minute", "must be between 1 and 600"},
		{"renewal burst beyond the bound", func(c *Config) { c.PKI.RenewBurst = 5000 },
			"pki.renew_burst", "must be between 1 and 1000"},
		{"rate limit that never limits", func(c *Config) { c.Telemetry.RatePerSecond = 0 },
			"telemetry.rate_per_second", "must be between 1 and 1000000"},
		{"burst below one full batch", func(c *Config) { c.Telemetry.Burst = 100 },
			"telemetry.burst", "must be between 256 and 1000000"},
		{"clock skew of an hour", func(c *Config) { c.Telemetry.ClockSkew = time.Hour },
			"telemetry.clock_skew", "must be more than 0s and at most 1m0s"},
		{"reorder window beyond the store's", func(c *Config) { c.Telemetry.Window = 65 },
			"telemetry.window", "must be between 0 and 64"},
		{"accepted frames summarized as often as they arrive", func(c *Config) { c.Telemetry.AcceptedSummaryInterval = 100 * time.Millisecond },
			"telemetry.accepted_summary_interval", "must be between 1s and 1h0m0s"},
		{"accepted frames never summarized", func(c *Config) { c.Telemetry.AcceptedSummaryInterval = 0 },
			"telemetry.accepted_summary_interval", "must be between 1s and 1h0m0s"},
		{"a day of accepted traffic lost in a crash", func(c *Config) { c.Telemetry.AcceptedSummaryInterval = 24 * time.Hour },
			"telemetry.accepted_summary_interval", "must be between 1s and 1h0m0s"},
		{"checkpoint webhooks as often as the log grows", func(c *Config) { c.Audit.PublishWebhookEvery = 250 * time.Millisecond },
			"audit.publish_webhook_every", "must be 0 (off) or at least 1s"},
		{"a negative publication period", func(c *Config) { c.Audit.PublishWebhookEvery = -time.Minute },
			"audit.publish_webhook_every", "must be 0 (off) or at least 1s"},
		{"flow control that refuses a full batch", func(c *Config) { c.Telemetry.MaxInFlight = 255 },
			"telemetry.max_in_flight", "must be between 256 and 16384"},
		{"retention of seconds (a unit mistake)", func(c *Config) { c.Telemetry.Retention = 24 * time.Second },
			"telemetry.retention", "must be 0 (keep forever) or at least 24h0m0s"},
		{"negative retention", func(c *Config) { c.Telemetry.Retention = -time.Hour },
			"telemetry.retention", "must be 0 (keep forever) or at least 24h0m0s"},
		{"resolved incidents purged after a month written as hours without the unit", func(c *Config) { c.Incidents.Retention = 720 * time.Second },
			"incidents.retention", "must be 0 (keep forever) or at least 720h0m0s"},
		{"resolved incidents purged a week after resolution", func(c *Config) { c.Incidents.Retention = 7 * 24 * time.Hour },
			"incidents.retention", "must be 0 (keep forever) or at least 720h0m0s"},
		{"negative incident retention", func(c *Config) { c.Incidents.Retention = -time.Hour },
			"incidents.retention", "must be 0 (keep forever) or at least 720h0m0s"},
		{"flow control that does not bound", func(c *Config) { c.Telemetry.MaxInFlight = 1 << 20 },
			"telemetry.max_in_flight", "must be between 256 and 16384"},
		{"session handshake never times out", func(c *Config) { c.Session.HandshakeTimeout = 0 },
			"session.handshake_timeout", "must be more than 0s and at most 30s"},
		{"half-open session handshakes held for minutes", func(c *Config) { c.Session.HandshakeTimeout = 2 * time.Minute },
			"session.handshake_timeout", "must be more than 0s and at most 30s"},
		{"stalled vehicle holds a session write forever", func(c *Config) { c.Session.WriteTimeout = 0 },
			"session.write_timeout", "must be more than 0s and at most 1m0s"},
		{"auto-resume on the first heartbeat of a flapping link", func(c *Config) { c.Session.ResumeStableHeartbeats = 0 },
			"session.resume_stable_heartbeats", "must be between 1 and 60"},
		{"no bound on open sessions", func(c *Config) { c.Session.MaxSessions = 0 },
			"session.max_sessions", "must be between 1 and 1000000"},
		{"session bound beyond one gateway", func(c *Config) { c.Session.MaxSessions = 5_000_000 },
			"session.max_sessions", "must be between 1 and 1000000"},
		{"overload shedding only once acks already miss", func(c *Config) { c.Session.OverloadLatency = time.Second },
			"session.overload_latency", "must be at least 10ms and less than heartbeat.interval"},
		{"overload shedding refuses a healthy gateway", func(c *Config) { c.Session.OverloadLatency = time.Millisecond },
			"session.overload_latency", "must be at least 10ms and less than heartbeat.interval"},
		{"handshake rate of zero locks vehicles out", func(c *Config) { c.Session.HandshakeRate = 0 },
			"session.handshake_rate", "must be between 0.01 and 10"},
		{"handshake rate that lets a reconnect loop run", func(c *Config) { c.Session.HandshakeRate = 1000 },
			"session.handshake_rate", "must be between 0.01 and 10"},
		{"handshake burst of zero", func(c *Config) { c.Session.HandshakeBurst = 0 },
			"session.handshake_burst", "must be between 1 and 100"},
		{"speed disagreement rule that fires on healthy sensors", func(c *Config) { c.Plausibility.SpeedDisagreeRatio = 0.01 },
			"plausibility.speed_disagree_ratio", "must be between 0.05 and 0.9"},
		{"speed disagreement rule that can never fire", func(c *Config) { c.Plausibility.SpeedDisagreeRatio = 1 },
			"plausibility.speed_disagree_ratio", "must be between 0.05 and 0.9"},
		{"speed floor above any truck turns the rule off", func(c *Config) { c.Plausibility.SpeedDisagreeMinMPS = 50 },
			"plausibility.speed_disagree_min_mps", "must be between 1 and 30"},
		{"disagreement tolerated for minutes", func(c *Config) { c.Plausibility.SpeedDisagreeFrames = 1000 },
			"plausibility.speed_disagree_frames", "must be between 1 and 100"},
		{"no disagreeing frames needed", func(c *Config) { c.Plausibility.SpeedDisagreeFrames = 0 },
			"plausibility.speed_disagree_frames", "must be between 1 and 100"},
		{"position jump threshold below highway speed", func(c *Config) { c.Plausibility.MaxImpliedSpeedMPS = 20 },
			"plausibility.max_implied_speed_mps", "must be between 40 and 340"},
		{"hazmat load sent with no approver", func(c *Config) { c.Commands.HazmatApprovals = 0 },
			"commands.hazmat_approvals", "must be between 1 and 5"},
		{"heavy load sent with no approver", func(c *Config) { c.Commands.HeavyApprovals = 0 },
			"commands.heavy_approvals", "must be between 1 and 5"},
		{"more approvers than a shift has", func(c *Config) { c.Commands.HazmatApprovals = 6 },
			"commands.hazmat_approvals", "must be between 1 and 5"},
		{"negative route update approvals", func(c *Config) { c.Commands.RouteUpdateApprovals = -1 },
			"commands.route_update_approvals", "must be between 0 and 5"},
		{"negative handover approvals", func(c *Config) { c.Commands.HandoverApprovals = -1 },
			"commands.handover_approvals", "must be between 0 and 5"},
		{"risk extra approvals beyond the bound", func(c *Config) { c.Commands.RiskExtraApprovals = 9 },
			"commands.risk_extra_approvals", "must be between 0 and 5"},
		{"risk threshold off the scale", func(c *Config) { c.Commands.RiskThreshold = 101 },
			"commands.risk_threshold", "must be between 1 and 100"},
		{"heavy-load threshold of zero", func(c *Config) { c.Commands.HeavyGrossKg = 0 },
			"commands.heavy_gross_kg", "must be more than 0 and at most 200000"},
		{"heavy-load threshold above any tender switches the rule off", func(c *Config) { c.Commands.HeavyGrossKg = 250000 },
			"commands.heavy_gross_kg", "must be more than 0 and at most 200000"},
		{"approvals that outlive a shift", func(c *Config) { c.Commands.ApprovalLifetime = 48 * time.Hour },
			"commands.approval_lifetime", "must be between 1m0s and 24h0m0s"},
		{"command lifetime beyond the maximum", func(c *Config) { c.Commands.Lifetime = 2 * time.Hour; c.Commands.MaxLifetime = time.Hour },
			"commands.lifetime", "must be at least 1s and at most commands.max_lifetime"},
		{"commands waiting for a week", func(c *Config) { c.Commands.MaxLifetime = 7 * 24 * time.Hour },
			"commands.max_lifetime", "must be between 1s and 72h0m0s"},
		{"access issuer over plain http", func(c *Config) { c.Access.Issuer = "http://gw.example:9443" },
			"access.issuer", "must be an https URL without query, fragment or trailing slash"},
		{"access token algorithm none", func(c *Config) { c.Access.TokenAlg = "none" },
			"access.token_alg", "must be EdDSA or ES256"},
		{"access directory poll too slow for 1 s", func(c *Config) { c.Access.DirectoryPoll = 2 * time.Second },
			"access.directory_poll", "must be between 10ms and 500ms"},
		{"operating area of two points", func(c *Config) { c.Plausibility.OperatingArea = "32,-97; 33,-96" },
			"plausibility.operating_area", "needs at least 3 vertices (a bounding box is its 4 corners)"},
		{"operating area with lon,lat swapped", func(c *Config) { c.Plausibility.OperatingArea = "-97.5,32; -96,32; -96,33.5" },
			"plausibility.operating_area", "vertex 1: latitude must be between -90 and 90"},
		{"operating area vertices out of order", func(c *Config) {
			c.Plausibility.OperatingArea = "32,-97.5; 33.5,-96; 33.5,-97.5; 32,-96"
		}, "plausibility.operating_area", "edges 1-2 and 3-4 cross: list the vertices in order around the area"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			es := fieldErrors(t, c.Validate())
			if len(es) != 1 {
				t.Fatalf("got %d errors %v, want one", len(es), es)
			}
			if es[0].Path != tt.path || es[0].Msg != tt.msg {
				t.Fatalf("got %q: %q\nwant %q: %q", es[0].Path, es[0].Msg, tt.path, tt.msg)
			}
			if strings.Contains(es[0].Error(), "hunter2") {
				t.Fatalf("error repeats a secret: %v", es[0])
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := valid()
	c.Heartbeat.Interval = 0
	c.Heartbeat.Misses = 0
	c.Log.Level = "loud"
	c.TLS.MinVersion = "1.0"
	es := fieldErrors(t, c.Validate())
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	want := "heartbeat.interval heartbeat.misses log.level tls.min_version"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("paths: got %q, want %q", got, want)
	}
}

func TestValidateDev(t *testing.T) {
	c := valid()
	if err := c.ValidateDev(); err != nil {
		t.Fatalf("loopback defaults: %v", err)
	}
	c.Listen.Vehicle = "0.0.0.0:8443"
	c.Listen.Ops = "[::1]:0"
	es := fieldErrors(t, c.ValidateDev())
	if len(es) != 1 || es[0].Path != "listen.vehicle" {
		t.Fatalf("got %v, want one error at listen.vehicle", es)
	}
}

func TestParseFile(t *testing.T) {
	const file = `# a complete configuration
data_dir: /srv/fw
listen:
  vehicle: 0.0.0.0:8443
  tms: 10.0.0.5:9443
  ops: 127.0.0.1:9090
http:
  read_header_timeout: 2s
  max_body_bytes: 2097152
heartbeat:
  interval: 500ms
  misses: 4
log: {level: debug, format: text}
events:
  file: ""
tls:
  min_version: 1.3
`
	c, src, err := Parse([]byte(file), "gw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen.Vehicle != "0.0.0.0:8443" || c.HTTP.ReadHeaderTimeout != 2*time.Second ||
		c.HTTP.MaxBodyBytes != 2<<20 || c.Heartbeat.Interval != 500*time.Millisecond ||
		c.Heartbeat.Misses != 4 || c.Log.Level != "debug" || c.Events.File != "" || c.TLS.MinVersion != "1.3" {
		t.Fatalf("parsed %+v", c)
	}
	if c.HTTP.ReadTimeout != DefaultReadTimeout {
		t.Fatalf("unset key lost its default: %v", c.HTTP.ReadTimeout)
	}
	if src["heartbeat.interval"] != "gw.yaml:11" {
		t.Fatalf("source of heartbeat.interval: %q", src["heartbeat.interval"])
	}
	if c.EventsPath() != "" {
		t.Fatalf("empty events.file should disable the file, got %q", c.EventsPath())
	}
}

func TestParseEmptyIsDefaults(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "---\n"} {
		c, _, err := Parse([]byte(doc), "empty.yaml")
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c != Default() {
			t.Fatalf("%q: got %+v", doc, c)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // the first error, in full
	}{
		{"unknown key is a typo, not a default", "listen:\n  vehicel: 0.0.0.0:8443\n",
			"f.yaml:2: listen.vehicel: unknown key (known keys here: vehicle, tms, ops)"},
		{"unknown top-level key", "heartbeats:\n  interval: 1s\n",
			"f.yaml:1: heartbeats: unknown key (known keys here: data_dir, store_url, listen, http, heartbeat, log, events, tls, pki, telemetry, session, plausibility, access, webhooks, audit, detect, incidents, siem, commands)"},
		{"duplicate key hides the first value", "heartbeat:\n  interval: 1s\n  interval: 5s\n",
			"f.yaml:3: heartbeat.interval: duplicate key (first set on line 2)"},
		{"duration without unit", "heartbeat:\n  interval: 1\n",
			"f.yaml:2: heartbeat.interval: must be a duration with a unit, such as 1s, 500ms or 2m"},
		{"number as text", "heartbeat:\n  misses: three\n",
			"f.yaml:2: heartbeat.misses: must be a whole number"},
		{"null value", "log:\n  level:\n",
			"f.yaml:2: log.level: has no value; remove the key to use the default"},
		{"list where a value belongs", "data_dir: [a, b]\n",
			"f.yaml:1: data_dir: must be a single value, not a list or mapping"},
		{"scalar where a section belongs", "listen: 127.0.0.1:8443\n",
			"f.yaml:1: listen: must be a mapping of keys to values"},
		{"alias", "log:\n  level: &l debug\n  format: *l\n",
			"f.yaml:3: log.format: YAML aliases are not supported; write the value out"},
		{"two documents", "data_dir: a\n---\ndata_dir: b\n",
			"f.yaml: more than one YAML document; a configuration is one document"},
		{"syntax error", "listen:\n  vehicle: [\n",
			"f.yaml:2: did not find expected node content"},
		{"not a mapping", "- a\n- b\n",
			"f.yaml:1: must be a mapping of keys to values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.doc), "f.yaml")
			es := fieldErrors(t, err)
			if got := es[0].Error(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	doc := "bogus: 1\nheartbeat:\n  interval: soon\n  misses: many\nlisten:\n  extra: x\n"
	_, _, err := Parse([]byte(doc), "f.yaml")
	es := fieldErrors(t, err)
	if len(es) != 4 {
		t.Fatalf("got %d errors, want 4: %v", len(es), es)
	}
}

func TestParseLargeFileRefused(t *testing.T) {
	big := make([]byte, MaxFileBytes+1)
	_, _, err := Parse(big, "big.yaml")
	if es := fieldErrors(t, err); !strings.Contains(es[0].Msg, "larger than") {
		t.Fatalf("got %v", es)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte("data_dir: /x\nheartbeat: {interval: 2s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(path)
	if err != nil || c.Heartbeat.Interval != 2*time.Second {
		t.Fatalf("Load: %+v, %v", c, err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnvOverridesFileAndFlagsOverrideEnv(t *testing.T) {
	c, src, err := Parse([]byte("data_dir: /from/file\nheartbeat:\n  interval: 2s\n  misses: 5\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := c.ApplyEnv([]string{
		"FIFTHWHEEL_HEARTBEAT_INTERVAL=750ms",
		"FIFTHWHEEL_LISTEN_VEHICLE=127.0.0.1:0",
		"FIFTHWHEEL_HEARTBEAT_MISSES=", // empty: unset
		"FIFTHWHEEL_HEARTBEAT_INTERVALL=9s",
		"FIFTHWHEEL_TEST_POSTGRES=postgres://x", // test tooling, not configuration
		"HOME=/root",
	}, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Heartbeat.Interval != 750*time.Millisecond || c.Listen.Vehicle != "127.0.0.1:0" {
		t.Fatalf("env did not override the file: %+v", c)
	}
	if c.Heartbeat.Misses != 5 {
		t.Fatalf("empty env value overrode the file: misses=%d", c.Heartbeat.Misses)
	}
	if c.DataDir != "/from/file" {
		t.Fatalf("unset env changed data_dir: %q", c.DataDir)
	}
	if len(unknown) != 1 || unknown[0] != "FIFTHWHEEL_HEARTBEAT_INTERVALL" {
		t.Fatalf("unknown: %v", unknown)
	}
	if src["heartbeat.interval"] != "FIFTHWHEEL_HEARTBEAT_INTERVAL" || src["heartbeat.misses"] != "f.yaml:4" {
		t.Fatalf("sources: %v", src)
	}
	// Flags come last.
	if err := c.Set("heartbeat.interval", "3s"); err != nil {
		t.Fatal(err)
	}
	if c.Heartbeat.Interval != 3*time.Second {
		t.Fatalf("flag did not override env: %v", c.Heartbeat.Interval)
	}
}

func TestEnvBadValueNamesTheVariable(t *testing.T) {
	c := valid()
	_, err := c.ApplyEnv([]string{"FIFTHWHEEL_HEARTBEAT_MISSES=lots", "FIFTHWHEEL_HTTP_IDLE_TIMEOUT=forever"}, Sources{})
	es := fieldErrors(t, err)
	if len(es) != 2 || es[0].Error() != "FIFTHWHEEL_HEARTBEAT_MISSES: heartbeat.misses: must be a whole number" {
		t.Fatalf("got %v", es)
	}
}

func TestEnvNamesFollowTheRule(t *testing.T) {
	seen := map[string]bool{}
	rule := regexp.MustCompile(`^FIFTHWHEEL_[A-Z0-9_]+$`)
	for _, k := range Keys() {
		want := "FIFTHWHEEL_" + strings.ToUpper(strings.ReplaceAll(k.Path, ".", "_"))
		if k.Env != want || !rule.MatchString(k.Env) {
			t.Errorf("%s: env %s, want %s", k.Path, k.Env, want)
		}
		if seen[k.Env] {
			t.Errorf("two settings share %s", k.Env)
		}
		seen[k.Env] = true
	}
	for _, want := range []string{"FIFTHWHEEL_LISTEN_VEHICLE", "FIFTHWHEEL_HEARTBEAT_INTERVAL", "FIFTHWHEEL_DATA_DIR", "FIFTHWHEEL_STORE_URL"} {
		if !seen[want] {
			t.Errorf("missing %s", want)
		}
	}
}

// TestEveryKeyRoundTrips sets every key from text, so a new field of a type
// setValue does not handle fails here rather than in an operator's hands.
func TestEveryKeyRoundTrips(t *testing.T) {
	c := valid()
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse(out, "printed.yaml")
	if err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, out)
	}
	if back != c {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, c)
	}
	for _, k := range Keys() {
		var probe Config
		if err := probe.Set(k.Path, "1"); err != nil && strings.Contains(err.Error(), "unsupported type") {
			t.Errorf("%s: %v", k.Path, err)
		}
	}
	if err := c.Set("no.such", "1"); err == nil {
		t.Fatal("Set accepted an unknown path")
	}
}

func TestPKIPathsAndServerNames(t *testing.T) {
	c := valid()
	if got := c.PKIDir(); got != filepath.Join("/var/lib/fifthwheel", "pki") {
		t.Fatalf("PKIDir %q", got)
	}
	if got := c.KEKPath(); got != "" {
		t.Fatalf("KEKPath %q, want none by default", got)
	}
	c.PKI.KEKFile = "/etc/fw/kek"
	if got := c.KEKPath(); got != "/etc/fw/kek" {
		t.Fatalf("KEKPath %q", got)
	}
	pg := Default()
	pg.StoreURL = "postgres://gw@db/fw"
	if got := pg.PKIDir(); got != "" {
		t.Fatalf("relative pki.dir without data_dir resolved to %q", got)
	}
	c.PKI.ServerNames = " gw.example.com, 10.0.0.5 ,::1,"
	dns, ips := c.ServerNames()
	if len(dns) != 1 || dns[0] != "gw.example.com" || len(ips) != 2 || ips[0].String() != "10.0.0.5" || ips[1].String() != "::1" {
		t.Fatalf("ServerNames: %v %v", dns, ips)
	}
}

func TestBoolSettingAndPassphraseVariable(t *testing.T) {
	c := valid()
	src := Sources{}
	unknown, err := c.ApplyEnv([]string{"FIFTHWHEEL_PKI_ENROLLMENT=false", PassphraseEnv + "=hunter2"}, src)
	if err != nil || len(unknown) != 0 {
		t.Fatalf("ApplyEnv: %v, unknown %v", err, unknown)
	}
	if c.PKI.Enrollment {
		t.Fatal("FIFTHWHEEL_PKI_ENROLLMENT=false not applied")
	}
	if err := c.Set("pki.enrollment", "maybe"); err == nil || !strings.Contains(err.Error(), "must be true or false") {
		t.Fatalf("bad bool: %v", err)
	}
	out, err := c.Marshal()
	if err != nil || strings.Contains(string(out), "hunter2") {
		t.Fatalf("marshal: %v\n%s", err, out)
	}
}

func TestEventsPath(t *testing.T) {
	tests := []struct{ dataDir, file, want string }{
		{"/srv/fw", "events.jsonl", "/srv/fw/events.jsonl"},
		{"/srv/fw", "/var/log/fw.jsonl", "/var/log/fw.jsonl"},
		{"/srv/fw", "", ""},
		{"", "events.jsonl", ""}, // PostgreSQL only: the store is the record
		{"", "/var/log/fw.jsonl", "/var/log/fw.jsonl"},
	}
	for _, tt := range tests {
		c := Config{DataDir: tt.dataDir, Events: Events{File: tt.file}}
		if got := c.EventsPath(); got != tt.want {
			t.Errorf("data_dir %q, events.file %q: got %q, want %q", tt.dataDir, tt.file, got, tt.want)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := valid()
	c.StoreURL = "postgres://gw:hunter2@db:5432/fw"
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Fatalf("printed config holds the password:\n%s", out)
	}
	if URLHost(c.StoreURL) != "db:5432" {
		t.Fatalf("URLHost: %q", URLHost(c.StoreURL))
	}
	if RedactURL("postgres://a b:%zz@x") != "[unparseable URL]" {
		t.Fatal("unparseable URL not replaced")
	}
}

func TestOperatingArea(t *testing.T) {
	box := [][2]float64{{32, -97.5}, {33.5, -97.5}, {33.5, -96}, {32, -96}}
	for _, tt := range []struct {
		name, area string
		want       [][2]float64
	}{
		{"empty: the rule is off", "", nil},
		{"blank: the rule is off", "  ", nil},
		{"a bounding box as its corners", "32,-97.5;33.5,-97.5;33.5,-96;32,-96", box},
		{"spaces as a map copies a point", " 32, -97.5 ; 33.5, -97.5; 33.5, -96;32, -96 ", box},
		{"closed ring as GeoJSON writes it", "32,-97.5; 33.5,-97.5; 33.5,-96; 32,-96; 32,-97.5", box},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.Plausibility.OperatingArea = tt.area
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := c.OperatingArea()
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestOperatingAreaRefusals(t *testing.T) {
	many := strings.Repeat("1,1;", MaxOperatingAreaVertices+1) + "1,1"
	for _, tt := range []struct{ name, area, msg string }{
		{"one vertex", "32,-97", "needs at least 3 vertices (a bounding box is its 4 corners)"},
		{"a closed ring of two vertices", "32,-97; 33,-96; 32,-97", "needs at least 3 vertices (a bounding box is its 4 corners)"},
		{"not a pair", "32 -97; 33,-96; 33,-97", `vertex 1: must be "lat,lon" in decimal degrees; vertices are separated by ";"`},
		{"comma as decimal separator", "32,5,-97; 33,-96; 33,-97", `vertex 1: must be "lat,lon" in decimal degrees; vertices are separated by ";"`},
		{"vertices separated by commas", "32,-97, 33,-96, 33,-97", `vertex 1: must be "lat,lon" in decimal degrees; vertices are separated by ";"`},
		{"NaN", "NaN,-97; 33,-96; 33,-97", `vertex 1: must be "lat,lon" in decimal degrees; vertices are separated by ";"`},
		{"infinite latitude", "32,-97; +Inf,-96; 33,-97", "vertex 2: latitude must be between -90 and 90"},
		{"longitude out of range", "32,-97; 33,-196; 33,-97", "vertex 2: longitude must be between -180 and 180"},
		{"trailing separator", "32,-97; 33,-96; 33,-97;", `vertex 4: must be "lat,lon" in decimal degrees; vertices are separated by ";"`},
		{"a vertex twice", "32,-97; 33,-96; 32,-97; 33,-97", "vertex 3 repeats vertex 1"},
		{"collinear vertices enclose nothing", "32,-97; 33,-96; 34,-95", "encloses no area (the vertices lie on one line)"},
		{"collinear up to rounding", "32.1,-97.3; 32.2,-97.2; 32.3,-97.1", "encloses no area (the vertices lie on one line)"},
		{"across the antimeridian", "60,179; 60,-179; 61,-179; 61,179",
			"must not cross the antimeridian (±180° longitude): split the fleet's area or draw it on one side"},
		{"a bow tie", "32,-97.5; 33.5,-96; 33.5,-97.5; 32,-96", "edges 1-2 and 3-4 cross: list the vertices in order around the area"},
		{"an edge through a vertex", "0,0; 0,2; 1,1; 0,1; -1,1", "edges 1-2 and 3-4 cross: list the vertices in order around the area"},
		{"too many vertices for the per-frame cost", many, fmt.Sprintf("has more than %d vertices", MaxOperatingAreaVertices)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.Plausibility.OperatingArea = tt.area
			es := fieldErrors(t, c.Validate())
			if len(es) != 1 || es[0].Path != "plausibility.operating_area" || es[0].Msg != tt.msg {
				t.Fatalf("got %v\nwant plausibility.operating_area: %s", es, tt.msg)
			}
			if _, err := c.OperatingArea(); err == nil || err.Error() != "plausibility.operating_area: "+tt.msg {
				t.Fatalf("OperatingArea: %v", err)
			}
		})
	}
}

func TestFloatSetting(t *testing.T) {
	c, src, err := Parse([]byte("data_dir: /x\nplausibility:\n  speed_disagree_ratio: 0.3\nsession:\n  handshake_rate: 2\n"), "f.yaml")
	if err != nil || c.Plausibility.SpeedDisagreeRatio != 0.3 || c.Session.HandshakeRate != 2 || src["session.handshake_rate"] != "f.yaml:5" {
		t.Fatalf("parsed %+v %v %v", c.Plausibility, src, err)
	}
	if _, err := c.ApplyEnv([]string{"FIFTHWHEEL_PLAUSIBILITY_MAX_IMPLIED_SPEED_MPS=80.5"}, src); err != nil || c.Plausibility.MaxImpliedSpeedMPS != 80.5 {
		t.Fatalf("env: %v %v", c.Plausibility.MaxImpliedSpeedMPS, err)
	}
	for _, bad := range []string{"NaN", "Inf", "-Inf", "fast", "20%"} {
		if err := c.Set("plausibility.speed_disagree_ratio", bad); err == nil ||
			err.Error() != "plausibility.speed_disagree_ratio: must be a finite number, such as 0.2 or 5" {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Package config is fifthwheel's gateway configuration: what to listen on,
// where state lives, and the limits and timers the gateway enforces.
//
// # Sources and precedence
//
// A configuration is built in three layers, each overriding the one before:
//
//  1. the defaults in defaults.go (Default);
//  2. one YAML file (Load, Parse);
//  3. FIFTHWHEEL_* environment variables (ApplyEnv);
//  4. command-line flags, which the CLI applies with Set.
//
// Every setting has a path, its YAML keys joined with dots
// (heartbeat.interval). Its environment variable is FIFTHWHEEL_ followed by
// the path in upper case with every dot replaced by an underscore:
// heartbeat.interval is FIFTHWHEEL_HEARTBEAT_INTERVAL, listen.vehicle is
// FIFTHWHEEL_LISTEN_VEHICLE, http.max_body_bytes is
// FIFTHWHEEL_HTTP_MAX_BODY_BYTES. Values are written as in YAML: durations
// as "1s" or "500ms", sizes as integers in bytes.
//
// # Strictness
//
// A configuration that cannot be read exactly is refused, never guessed at:
// unknown keys, duplicate keys, YAML aliases, null values, values of the wrong
// type and more than one YAML document are errors, each reported with its
// path and line. Validate reports every error at once, each with its path, so
// an operator fixes a file in one pass. `fifthwheel config check FILE` prints
// them.
//
// # Security model
//
// A Config is data only: no open files, sockets or keys. TLS is 1.3 only and
// cannot be lowered (tls.min_version accepts only "1.3"). store_url may carry
// a database password: error messages never repeat it, and Redacted masks it
// before a configuration is printed or logged.
package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
)

// Config is the whole gateway configuration. The yaml tags are the keys of
// the file and, through the mapping rule in the package doc, the names of the
// environment variables.
type Config struct {
	// DataDir holds the gateway's local state: the embedded SQLite database
	// (unless StoreURL is set) and the events file.
	DataDir string `yaml:"data_dir"`
	// StoreURL selects PostgreSQL (postgres:// or postgresql://) instead of
	// the embedded SQLite database in DataDir.
	StoreURL  string    `yaml:"store_url"`
	Listen    Listen    `yaml:"listen"`
	HTTP      HTTP      `yaml:"http"`
	Heartbeat Heartbeat `yaml:"heartbeat"`
	Log       Log       `yaml:"log"`
	Events    Events    `yaml:"events"`
	TLS       TLS       `yaml:"tls"`
	PKI       PKI       `yaml:"pki"`
	Telemetry Telemetry `yaml:"telemetry"`
	Session   Session   `yaml:"session"`
	// Plausibility is the cross-sensor plausibility rules of telemetry.
	Plausibility Plausibility `yaml:"plausibility"`
	// Access is the TMS listener's access control: tokens, per-client
	// limits and the risk score (package authz).
	Access Access `yaml:"access"`
	// Webhooks is the push to TMS clients' webhooks (package webhook).
	Webhooks Webhooks `yaml:"webhooks"`
	// Audit is the tamper-evident audit log (package audit).
	Audit Audit `yaml:"audit"`
	// Detect is the detection engine (package detect, docs/DETECTION.md).
	Detect Detect `yaml:"detect"`
	// Incidents is the grouping of findings into incidents and their
	// notification clocks (package incident, docs/INCIDENTS.md).
	Incidents Incidents `yaml:"incidents"`
	// SIEM is the delivery of security events to SIEMs besides the events
	// file (package siem): syslog, a webhook, NATS JetStream.
	SIEM SIEM `yaml:"siem"`
	// Commands is the risk policy of the commands the TMS sends trucks:
	// how many approvals each needs, and lifetimes (package approval).
	Commands Commands `yaml:"commands"`
}

// Commands is the commands' risk policy. A count of 0 requires no
// approval for its rule, except the hazmat and heavy-load counts, which
// are at least 1. The largest count of the rules that apply is required,
// plus RiskExtraApprovals above RiskThreshold (approval.Policy.Assess).
type Commands struct {
	// HazmatApprovals: a load with hazmat lines.
	HazmatApprovals int `yaml:"hazmat_approvals"`
	// HeavyGrossKg and HeavyApprovals: a load whose gross weight is above
	// HeavyGrossKg kg.
	HeavyGrossKg   float64 `yaml:"heavy_gross_kg"`
	HeavyApprovals int     `yaml:"heavy_approvals"`
	// RouteUpdateApprovals: a route update.
	RouteUpdateApprovals int `yaml:"route_update_approvals"`
	// HandoverApprovals: a dispatch or route update whose route has a
	// handoff point (the load changes hands there).
	HandoverApprovals int `yaml:"handover_approvals"`
	// RiskThreshold and RiskExtraApprovals: a request whose risk score
	// (package authz, 0 to 100) is above RiskThreshold needs
	// RiskExtraApprovals more. 100: never.
	RiskThreshold      int `yaml:"risk_threshold"`
	RiskExtraApprovals int `yaml:"risk_extra_approvals"`
	// ApprovalLifetime: how long an approval counts.
	ApprovalLifetime time.Duration `yaml:"approval_lifetime"`
	// Lifetime: the expiry of a command whose request names none;
	// MaxLifetime bounds the expiry a request may name.
	Lifetime    time.Duration `yaml:"lifetime"`
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// CommandPolicy returns the commands section as the approval policy
// package command applies. Validate first: the policy's zero fields mean "the default", so
// a count of 0 here becomes approval.None.
func (c Config) CommandPolicy() approval.Policy {
	n := func(v int) int {
		if v == 0 {
			return approval.None
		}
		return v
	}
	cm := c.Commands
	return approval.Policy{
		HazmatApprovals: cm.HazmatApprovals, HeavyGrossKg: cm.HeavyGrossKg, HeavyApprovals: cm.HeavyApprovals,
		RouteUpdateApprovals: n(cm.RouteUpdateApprovals), HandoverApprovals: n(cm.HandoverApprovals),
		RiskThreshold: cm.RiskThreshold, RiskExtraApprovals: n(cm.RiskExtraApprovals),
		ApprovalTTL: cm.ApprovalLifetime, CommandTTL: cm.Lifetime, MaxCommandTTL: cm.MaxLifetime,
	}
}

// Detect configures the detection engine.
type Detect struct {
	// Enabled runs the engine (the stream consumer "detect"; one replica
	// at a time evaluates). On by default.
	Enabled bool `yaml:"enabled"`
	// RulesFile is the rules file (relative: under DataDir); empty: the
	// rules shipped in the binary. Reloaded on SIGHUP and when it changes.
	RulesFile string `yaml:"rules_file"`
}

// Incidents configures incidents.
type Incidents struct {
	// GroupingWindow: a finding joins its subject's unresolved incident
	// when that incident's last finding is at most this old.
	GroupingWindow time.Duration `yaml:"grouping_window"`
	// EscalateInterval is how often each gateway looks for overdue clocks.
	EscalateInterval time.Duration `yaml:"escalate_interval"`
	// Clocks are the notification deadlines from an incident's opening.
	Clocks IncidentClocks `yaml:"clocks"`
	// Retention is how long a resolved incident (with its findings,
	// clocks, notes, transitions, notifications and containment actions)
	// is kept, counted from its resolution; serve purges older ones.
	// Unresolved incidents are never purged. 0 keeps them forever
	// (docs/INCIDENTS.md, "Retention").
	Retention time.Duration `yaml:"retention"`
}

// IncidentClocks are the notification clocks of every incident.
type IncidentClocks struct {
	InternalSafety time.Duration `yaml:"internal_safety"` // a safety-relevant incident
	Internal       time.Duration `yaml:"internal"`        // any other incident
	Customer       time.Duration `yaml:"customer"`
	// RegulatorEarlyWarning: 0 turns the early warning clock off.
	RegulatorEarlyWarning time.Duration `yaml:"regulator_early_warning"`
	Regulator             time.Duration `yaml:"regulator"`
}

// SIEM configures the SIEM sinks; each is off while its address or URL is
// empty. Every sink tails the store's event stream and writes OCSF 1.3.0.
type SIEM struct {
	Syslog  SIEMSyslog  `yaml:"syslog"`
	Webhook SIEMWebhook `yaml:"webhook"`
	NATS    SIEMNATS    `yaml:"nats"`
}

// SIEMSyslog is RFC 5424 syslog over TLS (RFC 5425).
type SIEMSyslog struct {
	Address    string `yaml:"address"`     // host:port of the syslog server; "": off
	CAFile     string `yaml:"ca_file"`     // PEM CA(s) that issued the server's certificate (required)
	ServerName string `yaml:"server_name"` // the name its certificate must carry; "": the address's host
	Facility   int    `yaml:"facility"`    // 0 to 23
	Hostname   string `yaml:"hostname"`    // HOSTNAME field; "": the machine's name
	SDID       string `yaml:"sd_id"`       // the structured data element id, name@enterprise-number
}

// SIEMWebhook is the SIEM webhook: signed batches of OCSF events.
type SIEMWebhook struct {
	URL         string        `yaml:"url"`          // https URL; "": off
	SecretFile  string        `yaml:"secret_file"`  // the HMAC secret, 32 to 64 bytes, in a file (never inline)
	CAFile      string        `yaml:"ca_file"`      // PEM CA(s) of the receiver; "": the system roots
	Batch       int           `yaml:"batch"`        // events per POST
	MaxAttempts int           `yaml:"max_attempts"` // attempts before a batch is a dead letter
	MaxAge      time.Duration `yaml:"max_age"`      // time since a batch's first failure before it is a dead letter
	Timeout     time.Duration `yaml:"timeout"`      // one POST
}

// SIEMNATS is NATS JetStream.
type SIEMNATS struct {
	URL           string `yaml:"url"`            // nats:// or tls:// URL(s), comma-separated; "": off
	CAFile        string `yaml:"ca_file"`        // PEM CA(s) of a TLS server; "": plain or system roots
	CredsFile     string `yaml:"creds_file"`     // NATS credentials file; "": none
	SubjectPrefix string `yaml:"subject_prefix"` // subjects are <prefix>.<class>.<code>
	Stream        string `yaml:"stream"`         // the JetStream stream, created when missing
}

// Audit configures the audit log.
type Audit struct {
	// Origin is the log's origin line and key name, in every checkpoint.
	// Empty: the stored log key's origin, or for a store without one
	// "<first of pki.server_names>/fifthwheel/audit" (AuditOrigin). Every
	// replica must use the same; a store keeps one log, of one origin.
	Origin string `yaml:"origin"`
	// PublishFile, if set, receives the latest signed checkpoint (written
	// atomically) each time the log grows: a path on a volume the
	// customer holds, so a copy exists that the gateway cannot rewrite.
	PublishFile string `yaml:"publish_file"`
	// PublishWebhookEvery is the least time between two publications of
	// the checkpoint to the webhooks of the TMS clients whose roles grant
	// audit:read (an audit.checkpoint message, sent only when the log grew
	// since the last one). 0: off.
	PublishWebhookEvery time.Duration `yaml:"publish_webhook_every"`
}

// Webhooks configures the webhook sender.
type Webhooks struct {
	// AllowPrivate lets the sender reach receivers on loopback, private
	// and other non-global addresses. Off by default: a webhook URL must
	// not make the gateway a way into its own network (package webhook,
	// "Outbound requests"). Set it when the TMS's receiver lives on a
	// private network.
	AllowPrivate bool `yaml:"allow_private"`
}

// Listen holds the addresses (host:port) of the three listeners. Port 0
// picks a free port; the gateway reports the bound address.
type Listen struct {
	Vehicle string `yaml:"vehicle"` // TLS 1.3: trucks (sessions, telemetry, enrollment)
	TMS     string `yaml:"tms"`     // TLS 1.3: the TMS REST API
	Ops     string `yaml:"ops"`     // plain HTTP: health, metrics, CRL, OCSP
}

// HTTP holds the limits and timeouts every listener applies.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long a graceful stop waits for in-flight
	// requests before closing their connections.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
}

// Heartbeat holds the liveness timers shared by gateway and vehicles.
type Heartbeat struct {
	Interval time.Duration `yaml:"interval"`
	// Misses is how many consecutive intervals without a heartbeat mean
	// loss of communication.
	Misses int `yaml:"misses"`
	// ManualResume: a vehicle that stopped in safe_state leaves it only when
	// an operator resumes it. By default (false) the gateway resumes it
	// after a fresh challenge-response once its session has been stable for
	// a few heartbeats.
	ManualResume bool `yaml:"manual_resume"`
}

// Log selects the gateway's log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, text
}

// Events configures where security events go besides the store.
type Events struct {
	// File receives one OCSF JSON event per line for a SIEM shipper. A relative
	// path is relative to DataDir, and means no file when DataDir is unset
	// (state in PostgreSQL only); empty disables the file. The store keeps
	// the durable record either way.
	File string `yaml:"file"`
	// AggregateWindow is the window over which events about peers that
	// have not proven who they are (refused handshakes, requests without a
	// client certificate) are aggregated per source: the first few of each
	// kind are recorded as they come, the rest as one summary with a count
	// when the window closes.
	AggregateWindow time.Duration `yaml:"aggregate_window"`
	// The events file is written by a sink that tails the store (package
	// siem), in OCSF 1.3.0, rotated once it would pass MaxSize bytes or
	// its first event is MaxAge old; Keep rotated files are kept, none
	// older than KeepAge.
	MaxSize int64         `yaml:"max_size"`
	MaxAge  time.Duration `yaml:"max_age"`
	Keep    int           `yaml:"keep"`
	KeepAge time.Duration `yaml:"keep_age"`
}

// TLS holds TLS settings common to the TLS listeners.
type TLS struct {
	// MinVersion is fixed at "1.3"; it is here so a file can say so, and any
	// other value is an error.
	MinVersion string `yaml:"min_version"`
	// HandshakeTimeout bounds a TLS handshake on the vehicle and TMS
	// listeners; the gateway completes and records each handshake before
	// any HTTP is read.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// UnauthenticatedRequestsPerSecond and UnauthenticatedBurst limit the
	// requests each source (IPv4 address or IPv6 /64) may make on a
	// connection without a verified client certificate (enrollment, and
	// refusals of every other route); beyond them the answer is 429
	// rate_limited with Retry-After.
	UnauthenticatedRequestsPerSecond int `yaml:"unauthenticated_requests_per_second"`
	UnauthenticatedBurst             int `yaml:"unauthenticated_burst"`
	// ClientHelloTimeout bounds the wait for the first byte of a client's
	// ClientHello after the TCP connection is accepted; a connection that
	// says nothing for that long is closed (tls_client_hello_timeout)
	// well before tls.handshake_timeout.
	ClientHelloTimeout time.Duration `yaml:"client_hello_timeout"`
	// MaxPendingHandshakesPerSource bounds the TLS handshakes in progress
	// from one source address (IPv4 address, IPv6 /64) on each TLS
	// listener; a connection beyond it is closed at once
	// (admission_source_limit), so one host cannot fill the listener's
	// handshake slots.
	MaxPendingHandshakesPerSource int `yaml:"max_pending_handshakes_per_source"`
	// MaxUnauthenticatedConnsPerSource bounds the connections from one
	// source admitted without a client certificate (enrollment on the
	// vehicle listener); one beyond it is closed once its handshake ends
	// (admission_unauthenticated_limit).
	MaxUnauthenticatedConnsPerSource int `yaml:"max_unauthenticated_conns_per_source"`
	// UnauthenticatedIdleTimeout closes a connection without a client
	// certificate that has had no request in progress for this long.
	UnauthenticatedIdleTimeout time.Duration `yaml:"unauthenticated_idle_timeout"`
	// UnauthenticatedMaxLifetime closes a connection without a client
	// certificate this long after its handshake, busy or not.
	UnauthenticatedMaxLifetime time.Duration `yaml:"unauthenticated_max_lifetime"`
}

// PKI configures the fleet CA the gateway runs and the mutual TLS of its
// listeners.
type PKI struct {
	// Dir is the CA directory (ca.json, root.crt, intermediates/). A
	// relative path is relative to DataDir.
	Dir string `yaml:"dir"`
	// KEKFile is a file holding the random 256-bit key that encrypts the
	// CA keys (mode 0600). Empty: the passphrase in FIFTHWHEEL_CA_PASSPHRASE
	// protects them, or, when neither is given, the development key file
	// `serve --dev` creates in DataDir. A relative path is relative to
	// DataDir.
	KEKFile string `yaml:"kek_file"`
	// ServerNames are the DNS names and IP addresses, comma-separated, of
	// the gateway's own server certificate, issued from the fleet CA at
	// start and renewed at 2/3 of its life.
	ServerNames string `yaml:"server_names"`
	// RevocationPoll is how often the gateway polls the store for new
	// revocations and vehicle suspensions (PostgreSQL also pushes both with
	// LISTEN/NOTIFY).
	RevocationPoll time.Duration `yaml:"revocation_poll"`
	// RevocationMaxAge is how old the gateway's copy of the revocation list
	// may get (store unreachable) before new handshakes are refused.
	RevocationMaxAge time.Duration `yaml:"revocation_max_age"`
	// Enrollment serves POST /v1/pki/enroll on the vehicle listener to
	// clients that present no certificate yet (they prove themselves with a
	// join token). false: the vehicle listener requires a client certificate
	// from every client, and vehicles get certificates only from operators.
	Enrollment bool `yaml:"enrollment"`
	// RenewPerMinute and RenewBurst limit POST /v1/pki/renew per principal
	// (token bucket, per gateway replica); beyond them a renewal is refused
	// with 429 and Retry-After.
	RenewPerMinute int `yaml:"renew_per_minute"`
	RenewBurst     int `yaml:"renew_burst"`
	// CRLURL and OCSPURL, when set, are written into issued certificates
	// (CRL distribution point, OCSP responder) for third parties: the
	// public URLs of the ops listener's /pki/crl and /pki/ocsp.
	CRLURL  string `yaml:"crl_url"`
	OCSPURL string `yaml:"ocsp_url"`
}

// Telemetry configures the telemetry ingest path.
type Telemetry struct {
	// RatePerSecond and Burst limit the frames each vehicle may send
	// (token bucket); beyond them the batch is refused with 429 and
	// Retry-After, never dropped silently.
	RatePerSecond int `yaml:"rate_per_second"`
	Burst         int `yaml:"burst"`
	// ClockSkew bounds |frame ts - gateway time| for live frames (and the
	// hello and challenge_response of a session handshake), and how far in
	// the future any frame may be.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// Window admits frames up to this many seqs below the newest accepted
	// one, if not stored yet, for transports that reorder. 0: strictly
	// increasing.
	Window int `yaml:"window"`
	// AcceptedSummaryInterval is how often each vehicle's accepted frames
	// are recorded as one frames_accepted_summary event (an accepted frame
	// is recorded by its frame row, not an event of its own).
	AcceptedSummaryInterval time.Duration `yaml:"accepted_summary_interval"`
	// MaxInFlight bounds the telemetry frames the gateway has admitted and
	// not yet stored, over the session and the batch path; beyond it
	// telemetry is refused with gateway_busy (429 with Retry-After, or a
	// nack) before its signature is checked, and the vehicle sends it again
	// later. Heartbeats are never refused by it.
	MaxInFlight int `yaml:"max_in_flight"`
	// Retention is how long a stored frame's payload (its bytes and
	// signature) is kept, counted from the frame's own time; serve purges
	// older payloads, keeping each frame's hash, key id and verdict, which
	// de-duplication and the audit log need (docs/OPERATIONS.md,
	// "Retention"). 0 keeps payloads forever.
	Retention time.Duration `yaml:"retention"`
}

// Session tunes the vehicle sessions (WebSocket, /v1/vehicle/session). The
// heartbeat timing is under heartbeat, the handshake's clock skew is
// telemetry.clock_skew.
type Session struct {
	// HandshakeTimeout closes a vehicle that has not completed hello →
	// challenge → challenge_response within it.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// WriteTimeout bounds writing one gateway frame (challenge, ack, nack,
	// resume) to a vehicle.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ResumeStableHeartbeats is the auto-resume hold-down: consecutive
	// accepted heartbeats reporting safe_state, each within two intervals
	// of the previous, before the gateway resumes a vehicle (unless
	// heartbeat.manual_resume).
	ResumeStableHeartbeats int `yaml:"resume_stable_heartbeats"`
	// MaxSessions bounds the open vehicle connections (established or in
	// handshake); one more is refused with 503.
	MaxSessions int `yaml:"max_sessions"`
	// OverloadLatency: while the moving average time from reading a
	// heartbeat or telemetry frame to writing its answer exceeds it, new
	// sessions are refused with 503 gateway_overloaded and Retry-After, so
	// the trucks already connected keep their acks in time.
	OverloadLatency time.Duration `yaml:"overload_latency"`
	// HandshakeRate (per second) and HandshakeBurst limit session
	// handshakes per vehicle (token bucket); beyond them 429 rate_limited
	// with Retry-After.
	HandshakeRate  float64 `yaml:"handshake_rate"`
	HandshakeBurst int     `yaml:"handshake_burst"`
}

// Plausibility holds the thresholds of the cross-sensor plausibility rules.
// A rule never refuses a frame (the vehicle signed it); it raises a finding
// kept with the frame and a finding event.
type Plausibility struct {
	// SpeedDisagreeRatio, SpeedDisagreeMinMPS and SpeedDisagreeFrames:
	// wheel and GNSS speed differing by more than this fraction of the
	// larger, above this speed (m/s), for this many consecutive frames,
	// raise speed_disagreement.
	SpeedDisagreeRatio  float64 `yaml:"speed_disagree_ratio"`
	SpeedDisagreeMinMPS float64 `yaml:"speed_disagree_min_mps"`
	SpeedDisagreeFrames int     `yaml:"speed_disagree_frames"`
	// MaxImpliedSpeedMPS: two fixes further apart than this speed (m/s)
	// allows for the time between them raise position_jump.
	MaxImpliedSpeedMPS float64 `yaml:"max_implied_speed_mps"`
	// OperatingArea is the fleet's operating area, a polygon of "lat,lon"
	// vertices (decimal degrees, WGS 84) separated by ";", in order around
	// the area; a fix outside it raises outside_operating_area. Empty: no
	// area, the rule is off. See OperatingArea for the rules.
	OperatingArea string `yaml:"operating_area"`
}

// Access holds the TMS access settings: the access-token issuer, the
// per-client request budget, the risk threshold above which control routes
// are refused, and how often the authorization cache checks the registry.
type Access struct {
	// Issuer is the tokens' iss and aud, an https URL; "": derived from
	// the first of pki.server_names and listen.tms's port (AccessIssuer).
	Issuer string `yaml:"issuer"`
	// TokenAlg signs new token keys: EdDSA (Ed25519) or ES256.
	TokenAlg string `yaml:"token_alg"`
	// RatePerSecond and Burst are each client's token bucket; beyond it
	// 429 access_rate_limited with Retry-After.
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         int     `yaml:"burst"`
	// RiskThreshold: a request scoring above it (0 to 100) is refused on
	// control routes (access_risk_too_high).
	RiskThreshold int `yaml:"risk_threshold"`
	// DirectoryPoll is how often a gateway checks the registry's authority
	// version (suspensions, roles); PostgreSQL also wakes it by NOTIFY.
	DirectoryPoll time.Duration `yaml:"directory_poll"`
}

// AccessIssuer returns access.issuer, or https://NAME:PORT from the first
// of pki.server_names and listen.tms's port.
func (c Config) AccessIssuer() string {
	if c.Access.Issuer != "" {
		return c.Access.Issuer
	}
	name := "localhost"
	dns, ips := c.ServerNames()
	switch {
	case len(dns) > 0:
		name = dns[0]
	case len(ips) > 0:
		name = ips[0].String()
	}
	port := "9443"
	if _, p, err := net.SplitHostPort(c.Listen.TMS); err == nil && p != "0" && p != "" {
		port = p
	}
	return "https://" + net.JoinHostPort(name, port)
}

// AuditOrigin returns audit.origin, or "<first server name>/fifthwheel/audit"
// ("localhost/fifthwheel/audit" without one): the origin of a new log.
func (c Config) AuditOrigin() string {
	if c.Audit.Origin != "" {
		return c.Audit.Origin
	}
	name := "localhost"
	dns, ips := c.ServerNames()
	switch {
	case len(dns) > 0:
		name = dns[0]
	case len(ips) > 0:
		name = ips[0].String()
	}
	return name + "/fifthwheel/audit"
}

// DetectRulesPath returns detect.rules_file resolved against DataDir ("":
// the shipped rules).
func (c Config) DetectRulesPath() string { return c.resolve(c.Detect.RulesFile) }

// AuditPublishPath returns audit.publish_file resolved against DataDir.
func (c Config) AuditPublishPath() string { return c.resolve(c.Audit.PublishFile) }

// PKIDir returns the CA directory with a relative path resolved against
// DataDir, or "" when it cannot be resolved (relative, no DataDir).
func (c Config) PKIDir() string { return c.resolve(c.PKI.Dir) }

// KEKPath returns pki.kek_file resolved against DataDir, or "".
func (c Config) KEKPath() string { return c.resolve(c.PKI.KEKFile) }

func (c Config) resolve(p string) string {
	switch {
	case p == "" || filepath.IsAbs(p):
		return p
	case c.DataDir == "":
		return ""
	}
	return filepath.Join(c.DataDir, p)
}

// ServerNames splits pki.server_names into DNS names and IP addresses.
func (c Config) ServerNames() (dns []string, ips []net.IP) {
	for _, n := range strings.Split(c.PKI.ServerNames, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

// OperatingArea parses plausibility.operating_area into its vertices, or
// nil when the setting is empty (the outside_operating_area rule is off).
// The form and what is refused: plausibility.ParseArea.
func (c Config) OperatingArea() (plausibility.Polygon, error) {
	area, err := plausibility.ParseArea(c.Plausibility.OperatingArea)
	if err != nil {
		return nil, FieldError{Path: "plausibility.operating_area", Msg: err.Error()}
	}
	return area, nil
}

// EventsPath returns the events file path with a relative path resolved
// against DataDir, or "" when there is no events file: events.file is empty,
// or relative with no DataDir.
func (c Config) EventsPath() string {
	switch {
	case c.Events.File == "" || filepath.IsAbs(c.Events.File):
		return c.Events.File
	case c.DataDir == "":
		return ""
	}
	return filepath.Join(c.DataDir, c.Events.File)
}

// Redacted returns a copy of c whose StoreURL has its password masked, safe to
// print or log.
func (c Config) Redacted() Config {
	c.StoreURL = RedactURL(c.StoreURL)
	return c
}

// RedactURL masks the password of a connection URL. A string that does not
// parse as a URL is replaced entirely, since it may be a password pasted in
// the wrong place.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "[unparseable URL]"
	}
	return u.Redacted()
}

// URLHost returns the host:port of a connection URL for messages, or "" if
// it has none.
func URLHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

// IsLoopback reports whether addr (host:port) binds only to the loopback
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FieldError is one problem with one setting.
type FieldError struct {
	Path   string // dotted path, e.g. "heartbeat.interval"; "" for the file as a whole
	Msg    string // what is wrong and what is allowed
	Source string // where the value came from: "FILE:LINE", an environment variable or a flag; may be empty
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration. Use errors.As to get it
// from the error Load, Parse, ApplyEnv or Validate return.
type Errors []FieldError

func (es Errors) Error() string {
	switch len(es) {
	case 0:
		return "no errors"
	case 1:
		return es[0].Error()
	}
	return fmt.Sprintf("%s (and %d more)", es[0].Error(), len(es)-1)
}

// Locate fills in the Source of each error that has none from src.
func (es Errors) Locate(src Sources) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		if e.Source == "" {
			e.Source = src[e.Path]
		}
		out[i] = e
	}
	return out
}

// Sources records where each setting that is not a default came from: a
// "FILE:LINE", an environment variable name or a flag. Later layers
// overwrite earlier ones, as their values do.
type Sources map[string]string

package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
)

// Validate checks every setting and returns all problems as Errors, each
// with its path, or nil.
func (c Config) Validate() error {
	var v validation

	if c.DataDir == "" && c.StoreURL == "" {
		v.add("data_dir", "set data_dir (embedded SQLite) or store_url (PostgreSQL): the gateway needs a place for its state")
	}
	if c.StoreURL != "" {
		// Never quote the URL: it may hold a password.
		u, err := url.Parse(c.StoreURL)
		switch {
		case err != nil:
			v.add("store_url", "is not a valid URL")
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			v.add("store_url", "must be a postgres:// or postgresql:// URL")
		}
	}

	v.addr("listen.vehicle", c.Listen.Vehicle)
	v.addr("listen.tms", c.Listen.TMS)
	v.addr("listen.ops", c.Listen.Ops)
	v.distinct([]string{"listen.vehicle", "listen.tms", "listen.ops"},
		[]string{c.Listen.Vehicle, c.Listen.TMS, c.Listen.Ops})

	v.timeout("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.timeout("http.read_timeout", c.HTTP.ReadTimeout)
	v.timeout("http.write_timeout", c.HTTP.WriteTimeout)
	v.timeout("http.idle_timeout", c.HTTP.IdleTimeout)
	v.timeout("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	if c.HTTP.ReadHeaderTimeout > c.HTTP.ReadTimeout && c.HTTP.ReadTimeout > 0 {
		v.add("http.read_header_timeout", "must not be longer than http.read_timeout")
	}
	v.between("http.max_header_bytes", int64(c.HTTP.MaxHeaderBytes), MinMaxHeaderBytes, MaxMaxHeaderBytes)
	v.between("http.max_body_bytes", c.HTTP.MaxBodyBytes, MinMaxBodyBytes, MaxMaxBodyBytes)

	if c.Heartbeat.Interval < MinHeartbeatInterval || c.Heartbeat.Interval > MaxHeartbeatInterval {
		v.add("heartbeat.interval", fmt.Sprintf("must be between %v and %v", MinHeartbeatInterval, MaxHeartbeatInterval))
	}
	v.between("heartbeat.misses", int64(c.Heartbeat.Misses), MinHeartbeatMisses, MaxHeartbeatMisses)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "must be one of debug, info, warn, error")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		v.add("log.format", "must be json or text")
	}

	if c.TLS.MinVersion != TLSMinVersion {
		v.add("tls.min_version", "must be 1.3: TLS 1.2 and below are refused by design")
	}
	if c.TLS.HandshakeTimeout <= 0 || c.TLS.HandshakeTimeout > MaxHandshakeTimeout {
		v.add("tls.handshake_timeout", fmt.Sprintf("must be more than 0s and at most %v", MaxHandshakeTimeout))
	}
	v.between("tls.unauthenticated_requests_per_second", int64(c.TLS.UnauthenticatedRequestsPerSecond), 1, MaxUnauthenticatedRate)
	v.between("tls.unauthenticated_burst", int64(c.TLS.UnauthenticatedBurst), 1, MaxUnauthenticatedRate)
	c.validateSIEM(&v)
	if c.Events.AggregateWindow < MinAggregateWindow || c.Events.AggregateWindow > MaxAggregateWindow {
		v.add("events.aggregate_window", fmt.Sprintf("must be between %v and %v", MinAggregateWindow, MaxAggregateWindow))
	}
	c.validateAdmission(&v)

	c.validatePKI(&v)

	v.between("telemetry.rate_per_second", int64(c.Telemetry.RatePerSecond), 1, MaxTelemetryRate)
	v.between("telemetry.burst", int64(c.Telemetry.Burst), MinTelemetryBurst, MaxTelemetryRate)
	if c.Telemetry.ClockSkew <= 0 || c.Telemetry.ClockSkew > MaxClockSkew {
		v.add("telemetry.clock_skew", fmt.Sprintf("must be more than 0s and at most %v", MaxClockSkew))
	}
	v.between("telemetry.window", int64(c.Telemetry.Window), 0, MaxWindow)
	if e := c.Audit.PublishWebhookEvery; e != 0 && e < MinAuditPublishWebhookEvery {
		v.add("audit.publish_webhook_every", fmt.Sprintf("must be 0 (off) or at least %v", MinAuditPublishWebhookEvery))
	}
	if s := c.Telemetry.AcceptedSummaryInterval; s < MinAcceptedSummaryInterval || s > MaxAcceptedSummaryInterval {
		v.add("telemetry.accepted_summary_interval", fmt.Sprintf("must be between %v and %v", MinAcceptedSummaryInterval, MaxAcceptedSummaryInterval))
	}
	v.between("telemetry.max_in_flight", int64(c.Telemetry.MaxInFlight), MinTelemetryMaxInFlight, MaxTelemetryMaxInFlight)
	if r := c.Telemetry.Retention; r != 0 && r < MinRetention {
		v.add("telemetry.retention", fmt.Sprintf("must be 0 (keep forever) or at least %v", MinRetention))
	}

	c.validateSession(&v)
	c.validatePlausibility(&v)
	c.validateAccess(&v)
	if f := c.Detect.RulesFile; f != "" && !filepath.IsAbs(f) && c.DataDir == "" {
		// Never fall back to the shipped rules silently: the operator asked for a file.
		v.add("detect.rules_file", "a relative path needs data_dir (it is relative to it); give an absolute path")
	}
	c.validateIncidents(&v)
	c.validateCommands(&v)
	return v.result()
}

// validateCommands checks the commands' risk policy against package
// approval's bounds.
func (c Config) validateCommands(v *validation) {
	cm := c.Commands
	v.between("commands.hazmat_approvals", int64(cm.HazmatApprovals), 1, approval.MaxApprovalsRequired)
	v.between("commands.heavy_approvals", int64(cm.HeavyApprovals), 1, approval.MaxApprovalsRequired)
	v.between("commands.route_update_approvals", int64(cm.RouteUpdateApprovals), 0, approval.MaxApprovalsRequired)
	v.between("commands.handover_approvals", int64(cm.HandoverApprovals), 0, approval.MaxApprovalsRequired)
	v.between("commands.risk_extra_approvals", int64(cm.RiskExtraApprovals), 0, approval.MaxApprovalsRequired)
	v.between("commands.risk_threshold", int64(cm.RiskThreshold), 1, approval.MaxRiskScore)
	if !(cm.HeavyGrossKg > 0 && cm.HeavyGrossKg <= approval.MaxHeavyGrossKg) {
		v.add("commands.heavy_gross_kg", fmt.Sprintf("must be more than 0 and at most %d", approval.MaxHeavyGrossKg))
	}
	v.durationBetween("commands.approval_lifetime", cm.ApprovalLifetime, approval.MinApprovalTTL, approval.MaxApprovalTTL)
	v.durationBetween("commands.max_lifetime", cm.MaxLifetime, approval.MinCommandTTL, approval.MaxCommandTTL)
	if cm.Lifetime < approval.MinCommandTTL || cm.Lifetime > cm.MaxLifetime {
		v.add("commands.lifetime", fmt.Sprintf("must be at least %v and at most commands.max_lifetime", approval.MinCommandTTL))
	}
}

// validateIncidents checks the incidents section.
func (c Config) validateIncidents(v *validation) {
	in := c.Incidents
	v.durationBetween("incidents.grouping_window", in.GroupingWindow, time.Second, MaxIncidentGroupingWindow)
	v.durationBetween("incidents.escalate_interval", in.EscalateInterval, time.Second, time.Hour)
	v.durationBetween("incidents.clocks.internal_safety", in.Clocks.InternalSafety, time.Second, MaxIncidentClock)
	v.durationBetween("incidents.clocks.internal", in.Clocks.Internal, time.Second, MaxIncidentClock)
	v.durationBetween("incidents.clocks.customer", in.Clocks.Customer, time.Second, MaxIncidentClock)
	v.durationBetween("incidents.clocks.regulator", in.Clocks.Regulator, time.Second, MaxIncidentClock)
	if r := in.Retention; r != 0 && r < MinIncidentRetention {
		v.add("incidents.retention", fmt.Sprintf("must be 0 (keep forever) or at least %v", MinIncidentRetention))
	}
	if ew := in.Clocks.RegulatorEarlyWarning; ew != 0 && (ew < time.Second || ew >= in.Clocks.Regulator) {
		v.add("incidents.clocks.regulator_early_warning", "must be 0 (off) or at least 1s and shorter than incidents.clocks.regulator")
	}
}

func (v *validation) durationBetween(path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(path, fmt.Sprintf("must be between %v and %v", lo, hi))
	}
}

// validateSession checks the vehicle session settings.
func (c Config) validateSession(v *validation) {
	s := c.Session
	if s.HandshakeTimeout <= 0 || s.HandshakeTimeout > MaxSessionHandshakeTimeout {
		v.add("session.handshake_timeout", fmt.Sprintf("must be more than 0s and at most %v", MaxSessionHandshakeTimeout))
	}
	if s.WriteTimeout <= 0 || s.WriteTimeout > MaxSessionWriteTimeout {
		v.add("session.write_timeout", fmt.Sprintf("must be more than 0s and at most %v", MaxSessionWriteTimeout))
	}
	v.between("session.resume_stable_heartbeats", int64(s.ResumeStableHeartbeats), 1, MaxResumeStableHeartbeats)
	v.between("session.max_sessions", int64(s.MaxSessions), 1, MaxMaxSessions)
	// Compared with heartbeat.interval only when that is valid, so one
	// mistake is reported once.
	hbOK := c.Heartbeat.Interval >= MinHeartbeatInterval && c.Heartbeat.Interval <= MaxHeartbeatInterval
	if s.OverloadLatency < MinOverloadLatency || (hbOK && s.OverloadLatency >= c.Heartbeat.Interval) {
		v.add("session.overload_latency", fmt.Sprintf("must be at least %v and less than heartbeat.interval", MinOverloadLatency))
	}
	v.betweenFloat("session.handshake_rate", s.HandshakeRate, MinSessionHandshakeRate, MaxSessionHandshakeRate)
	v.between("session.handshake_burst", int64(s.HandshakeBurst), 1, MaxSessionHandshakeBurst)
}

// validatePlausibility checks the plausibility thresholds and the operating
// area.
func (c Config) validatePlausibility(v *validation) {
	p := c.Plausibility
	v.betweenFloat("plausibility.speed_disagree_ratio", p.SpeedDisagreeRatio, MinSpeedDisagreeRatio, MaxSpeedDisagreeRatio)
	v.betweenFloat("plausibility.speed_disagree_min_mps", p.SpeedDisagreeMinMPS, MinSpeedDisagreeMinMPS, MaxSpeedDisagreeMinMPS)
	v.between("plausibility.speed_disagree_frames", int64(p.SpeedDisagreeFrames), 1, MaxSpeedDisagreeFrames)
	v.betweenFloat("plausibility.max_implied_speed_mps", p.MaxImpliedSpeedMPS, MinMaxImpliedSpeedMPS, MaxMaxImpliedSpeedMPS)
	if _, err := plausibility.ParseArea(p.OperatingArea); err != nil {
		v.add("plausibility.operating_area", err.Error())
	}
}

// validateAdmission checks the limits on peers that have not proven who
// they are (tls.client_hello_timeout and the per-source and
// certificate-less bounds).
func (c Config) validateAdmission(v *validation) {
	t := c.TLS
	if t.ClientHelloTimeout <= 0 || t.ClientHelloTimeout > MaxHandshakeTimeout ||
		(t.HandshakeTimeout > 0 && t.ClientHelloTimeout > t.HandshakeTimeout) {
		v.add("tls.client_hello_timeout", "must be more than 0s and at most tls.handshake_timeout")
	}
	v.between("tls.max_pending_handshakes_per_source", int64(t.MaxPendingHandshakesPerSource), 1, MaxPendingHandshakesPerSource)
	v.between("tls.max_unauthenticated_conns_per_source", int64(t.MaxUnauthenticatedConnsPerSource), 1, MaxUnauthenticatedConnsPerSource)
	idleOK := t.UnauthenticatedIdleTimeout >= MinUnauthenticatedIdleTimeout && t.UnauthenticatedIdleTimeout <= MaxUnauthenticatedIdleTimeout
	if !idleOK {
		v.add("tls.unauthenticated_idle_timeout", fmt.Sprintf("must be between %v and %v",
			MinUnauthenticatedIdleTimeout, MaxUnauthenticatedIdleTimeout))
	}
	if t.UnauthenticatedMaxLifetime <= 0 || t.UnauthenticatedMaxLifetime > MaxUnauthenticatedMaxLifetime ||
		(idleOK && t.UnauthenticatedMaxLifetime < t.UnauthenticatedIdleTimeout) {
		v.add("tls.unauthenticated_max_lifetime", fmt.Sprintf("must be at least tls.unauthenticated_idle_timeout and at most %v",
			MaxUnauthenticatedMaxLifetime))
	}
}

func (c Config) validatePKI(v *validation) {
	// A relative pki.dir or pki.kek_file with no data_dir is not an error
	// here (store migrate needs neither); commands that use them say so.
	if c.PKI.Dir == "" {
		v.add("pki.dir", "must name the CA directory (default: pki, inside data_dir)")
	}
	dns, ips := c.ServerNames()
	switch {
	case len(dns)+len(ips) == 0:
		v.add("pki.server_names", "must list at least one DNS name or IP address for the gateway's certificate")
	case len(dns)+len(ips) > MaxServerNames:
		v.add("pki.server_names", fmt.Sprintf("lists more than %d names", MaxServerNames))
	}
	for _, n := range dns {
		if !validDNSName(n) {
			v.add("pki.server_names", "each name must be an IP address or a DNS name of letters, digits, '-' and '.'")
			break
		}
	}
	if c.PKI.RevocationPoll < MinRevocationPoll || c.PKI.RevocationPoll > MaxRevocationPoll {
		v.add("pki.revocation_poll", fmt.Sprintf("must be between %v and %v", MinRevocationPoll, MaxRevocationPoll))
	}
	if c.PKI.RevocationMaxAge <= c.PKI.RevocationPoll || c.PKI.RevocationMaxAge > MaxRevocationMaxAge {
		v.add("pki.revocation_max_age", fmt.Sprintf("must be longer than pki.revocation_poll and at most %v", MaxRevocationMaxAge))
	}
	v.between("pki.renew_per_minute", int64(c.PKI.RenewPerMinute), 1, MaxRenewPerMinute)
	v.between("pki.renew_burst", int64(c.PKI.RenewBurst), 1, MaxRenewBurst)
	for _, p := range []struct{ path, val string }{{"pki.crl_url", c.PKI.CRLURL}, {"pki.ocsp_url", c.PKI.OCSPURL}} {
		if p.val == "" {
			continue
		}
		u, err := url.Parse(p.val)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			v.add(p.path, "must be an http:// or https:// URL with a host and no query (relying parties fetch it)")
		}
	}
}

// validDNSName accepts a host name of labels of [A-Za-z0-9-] (not starting
// or ending with '-'), each 1 to 63 bytes, at most 253 bytes in all; a
// leading "*." wildcard is not accepted.
func validDNSName(n string) bool {
	if len(n) == 0 || len(n) > 253 {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ValidateDev checks what `serve --dev` adds to Validate: a data directory to
// create, and listeners bound to loopback only.
func (c Config) ValidateDev() error {
	var v validation
	if c.DataDir == "" {
		v.add("data_dir", "--dev needs a data directory to create (e.g. --data ./fw-data)")
	}
	for _, l := range []struct{ path, addr string }{
		{"listen.vehicle", c.Listen.Vehicle}, {"listen.tms", c.Listen.TMS}, {"listen.ops", c.Listen.Ops},
	} {
		if !IsLoopback(l.addr) {
			v.add(l.path, "--dev binds to loopback only (127.0.0.1, ::1 or localhost); drop --dev to serve on a network")
		}
	}
	return v.result()
}

type validation struct{ errs Errors }

func (v *validation) add(path, msg string) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: msg})
}

func (v *validation) result() error {
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func (v *validation) addr(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "must be host:port, e.g. 127.0.0.1:8443")
		return
	}
	if host == "" {
		v.add(path, "must name a host; use 0.0.0.0 or [::] to listen on every interface")
		return
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		v.add(path, "host must be an IP address or localhost")
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		v.add(path, "port must be a number from 0 to 65535")
	}
}

func (v *validation) distinct(paths, addrs []string) {
	for i := range addrs {
		for j := range i {
			if addrs[i] == addrs[j] && !portZero(addrs[i]) {
				v.add(paths[i], "is the same address as "+paths[j])
			}
		}
	}
}

func portZero(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

func (v *validation) timeout(path string, d time.Duration) {
	if d <= 0 || d > MaxTimeout {
		v.add(path, fmt.Sprintf("must be more than 0s and at most %v", MaxTimeout))
	}
}

// betweenFloat is between for floats; NaN is never between.
func (v *validation) betweenFloat(path string, f, lo, hi float64) {
	if !(f >= lo && f <= hi) {
		v.add(path, fmt.Sprintf("must be between %v and %v", lo, hi))
	}
}

func (v *validation) between(path string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.add(path, fmt.Sprintf("must be between %d and %d", lo, hi))
	}
}

// validateAccess checks the TMS access settings.
func (c Config) validateAccess(v *validation) {
	a := c.Access
	if a.Issuer != "" {
		u, err := url.Parse(a.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(a.Issuer, "/") {
			v.add("access.issuer", "must be an https URL without query, fragment or trailing slash")
		}
	}
	if a.TokenAlg != "EdDSA" && a.TokenAlg != "ES256" {
		v.add("access.token_alg", "must be EdDSA or ES256")
	}
	v.betweenFloat("access.rate_per_second", a.RatePerSecond, 0.1, MaxAccessRatePerSecond)
	v.between("access.burst", int64(a.Burst), 1, MaxAccessBurst)
	v.between("access.risk_threshold", int64(a.RiskThreshold), 1, 100)
	if a.DirectoryPoll < 10*time.Millisecond || a.DirectoryPoll > MaxAccessDirectoryPoll {
		v.add("access.directory_poll", fmt.Sprintf("must be between 10ms and %v", MaxAccessDirectoryPoll))
	}
}

// validateSIEM checks the events file's rotation and the SIEM sinks.
func (c Config) validateSIEM(v *validation) {
	v.between("events.max_size", c.Events.MaxSize, MinEventsMaxSize, MaxEventsMaxSize)
	if c.Events.MaxAge < MinEventsMaxAge {
		v.add("events.max_age", fmt.Sprintf("must be at least %v", MinEventsMaxAge))
	}
	v.between("events.keep", int64(c.Events.Keep), 1, MaxEventsKeep)
	if c.Events.KeepAge < MinEventsKeepAge {
		v.add("events.keep_age", fmt.Sprintf("must be at least %v", MinEventsKeepAge))
	}

	sl := c.SIEM.Syslog
	if sl.Address != "" {
		if _, port, err := net.SplitHostPort(sl.Address); err != nil || port == "" {
			v.add("siem.syslog.address", "must be host:port")
		}
		if sl.CAFile == "" {
			v.add("siem.syslog.ca_file", "is required with siem.syslog.address: the server is verified against this CA")
		}
	}
	v.between("siem.syslog.facility", int64(sl.Facility), 0, 23)
	if name, num, ok := strings.Cut(sl.SDID, "@"); !ok || name == "" || num == "" || len(sl.SDID) > 32 ||
		strings.ContainsAny(sl.SDID, "= ]\"\x00") || strings.Count(sl.SDID, "@") != 1 {
		v.add("siem.syslog.sd_id", "must be name@enterprise-number, at most 32 printable ASCII bytes without '=', ' ', ']' or '\"'")
	} else if _, err := strconv.ParseUint(num, 10, 32); err != nil {
		v.add("siem.syslog.sd_id", "the part after '@' must be a private enterprise number")
	}

	wh := c.SIEM.Webhook
	if wh.URL != "" {
		if u, err := url.Parse(wh.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			v.add("siem.webhook.url", "must be an https:// URL without user information")
		}
		if wh.SecretFile == "" {
			v.add("siem.webhook.secret_file", "is required with siem.webhook.url: the file holding the HMAC secret (32 to 64 bytes)")
		}
	}
	v.between("siem.webhook.batch", int64(wh.Batch), 1, MaxSIEMWebhookBatch)
	v.between("siem.webhook.max_attempts", int64(wh.MaxAttempts), 1, MaxSIEMWebhookAttempt)
	if wh.MaxAge < time.Minute {
		v.add("siem.webhook.max_age", "must be at least 1m0s")
	}
	if wh.Timeout < time.Second || wh.Timeout > MaxSIEMWebhookTimeout {
		v.add("siem.webhook.timeout", fmt.Sprintf("must be between 1s and %v", MaxSIEMWebhookTimeout))
	}

	n := c.SIEM.NATS
	if n.URL != "" {
		for _, raw := range strings.Split(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" || u.User != nil {
				v.add("siem.nats.url", "must be nats:// or tls:// URLs, comma-separated, without user information (use creds_file)")
				break
			}
		}
	}
	for _, tok := range strings.Split(n.SubjectPrefix, ".") {
		if tok == "" || strings.IndexFunc(tok, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) >= 0 {
			v.add("siem.nats.subject_prefix", "must be dot-separated tokens of letters, digits, '_' and '-'")
			break
		}
	}
	if n.Stream == "" || len(n.Stream) > 255 || strings.ContainsAny(n.Stream, " .*>/\\\t") {
		v.add("siem.nats.stream", "must be a JetStream stream name: no spaces, '.', '*', '>', '/' or '\\'")
	}
}

// Package codes is the one catalogue of fifthwheel's reason codes: every
// code the gateway answers with (problem+json, batch results, nacks,
// WebSocket close reasons) or records in a security event, each with its
// meaning, its HTTP status, the severity of its event and what a client does
// about it. docs/PROTOCOL.md's code tables are generated from it and checked
// against it by a test, so other stacks can implement the protocol from the
// docs alone; Go code (the gateway, package agent, the simulator) refers to
// the constants here instead of repeating strings.
//
// Package frame's decoding and signature codes (frame.Code) are declared in
// frame, which imports nothing, and included here by reference: Lookup
// knows them, and there is still one list.
//
// A code is never declared twice. A package that needs one refers to the
// constant here (or to frame's); a test (internal/archtest) refuses a second
// declaration of a catalogued string.
//
// # Security model
//
// The catalogue decides nothing: it names decisions made elsewhere. What it
// keeps true is that one decision has one name everywhere. A client keys its
// reaction on the code, never on the detail text: Kind says whether sending
// the same request again may succeed (KindTransient) or whether something
// must change first (the request, the software, the enrollment), so a
// client does not retry a refusal forever, nor give up on a transient one.
// The Severity of a code is the lowest its event is recorded with; an
// emitter may record a higher one where the context weighs more (a gateway
// certificate revoked, a token used twice), never a lower one.
//
// # Compatibility
//
// Codes are part of the wire contract: a code is never renamed, removed or
// reused for another meaning; new codes may be added, and a client must
// treat a code it does not know by the HTTP status or close status it came
// with. Meanings may be reworded, HTTP statuses and kinds do not change
// within a protocol version. This package imports only package frame.
package codes

import (
	"slices"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Entry is one reason code and what it means.
type Entry struct {
	// Code is the stable reason code.
	Code string
	// Area is where the code arises.
	Area Area
	// Meaning is one sentence for humans; it is not stable.
	Meaning string
	// Status is the HTTP status a problem+json answer with this code has,
	// or 0 when the code is never an HTTP answer (a per-frame result, a
	// nack, a close reason or an event only).
	Status int
	// Severity is the lowest severity of the security event recorded with
	// this code (OCSF severity_id), or SeverityNone when no event has it.
	Severity Severity
	// Kind says what a client that receives the code does about it, or ""
	// when no client receives it (an event only).
	Kind Kind
}

// Retry reports whether a client may send the same request (frame, batch,
// handshake) again unchanged and expect another answer later.
func (e Entry) Retry() bool { return e.Kind == KindTransient }

// Area is where a code arises; docs/PROTOCOL.md lists the codes by area.
type Area string

// The areas, in the order docs/PROTOCOL.md lists them.
const (
	AreaFrame        Area = "frame"        // package frame: decoding, canonical form, signature
	AreaAdmission    Area = "admission"    // the gateway's stateful frame checks (identity, registry, counters, freshness)
	AreaSession      Area = "session"      // the vehicle session (WebSocket)
	AreaCommandAck   Area = "command_ack"  // a vehicle's answers to commands (command_ack reasons)
	AreaBatch        Area = "batch"        // the batch path (POST /v1/vehicle/telemetry)
	AreaHTTP         Area = "http"         // any HTTP route
	AreaTLS          Area = "tls"          // TLS handshakes, admission of connections, live revocation
	AreaAccess       Area = "access"       // TMS access: OAuth2 token endpoint, access tokens (RFC 8705), roles, carrier scope, front door
	AreaCommand      Area = "command"      // commands to vehicles: risk policy, approvals, state machine, Idempotency-Key
	AreaWebhook      Area = "webhook"      // pushes to TMS clients' webhooks: the outbox, its sender, the registry
	AreaTracking     Area = "tracking"     // stop events from vehicles and the shipment status events they become
	AreaTMSAPI       Area = "tms_api"      // the TMS command API: tenders, Idempotency-Key headers, route revisions
	AreaEnrollment   Area = "enrollment"   // POST /v1/pki/enroll and /v1/pki/renew
	AreaPKI          Area = "pki"          // the fleet CA and operator PKI actions
	AreaRegistry     Area = "registry"     // the vehicle registry, frame keys, epochs
	AreaLiveness     Area = "liveness"     // the liveness monitor
	AreaPlausibility Area = "plausibility" // cross-sensor plausibility findings
	AreaAudit        Area = "audit"        // the tamper-evident audit log: sequencer, checkpoints, proofs
	AreaSystem       Area = "system"       // the gateway process
	AreaForensics    Area = "forensics"    // forensic bundles (package forensics)
	AreaDetection    Area = "detection"    // the detection rule engine (package detect)
	AreaIncident     Area = "incident"     // incidents: lifecycle, notification clocks, containment (package incident)
	AreaSIEM         Area = "siem"         // the SIEM sinks (package siem)
)

// Areas lists every area in documentation order.
var Areas = []Area{AreaFrame, AreaAdmission, AreaSession, AreaCommandAck, AreaBatch, AreaHTTP, AreaTLS, AreaAccess, AreaCommand, AreaTMSAPI, AreaWebhook, AreaTracking, AreaEnrollment,
	AreaPKI, AreaRegistry, AreaLiveness, AreaPlausibility, AreaAudit, AreaForensics, AreaSystem, AreaDetection, AreaIncident, AreaSIEM}

// Kind is what a client does about a code it receives. Package agent maps
// each to its ErrorKind.
type Kind string

// The kinds.
const (
	// KindTransient: the gateway could not decide now (store down,
	// overloaded, rate limited, shutting down) or the link ended; send the
	// same thing again later, after Retry-After where one is given.
	KindTransient Kind = "transient"
	// KindProtocol: what was sent is wrong (malformed, badly signed,
	// stale, refused by policy). Sending it again unchanged gets the same
	// answer: a software, configuration or security problem.
	KindProtocol Kind = "protocol"
	// KindNotEnrolled: the gateway does not know this client, its
	// certificate's issuer, its frame key or its join token. An operator
	// must enroll it or register the key.
	KindNotEnrolled Kind = "not_enrolled"
	// KindSuspended: the vehicle is enrolled but suspended or retired.
	KindSuspended Kind = "suspended"
	// KindRevoked: the client's certificate is revoked; it must be
	// re-enrolled.
	KindRevoked Kind = "revoked"
	// KindExpired: the client's certificate is outside its validity period
	// (or the client's clock is wrong).
	KindExpired Kind = "expired"
)

// Kinds lists every kind.
var Kinds = []Kind{KindTransient, KindProtocol, KindNotEnrolled, KindSuspended, KindRevoked, KindExpired}

// Severity is an event severity, OCSF severity_id. Package event's
// Severity is this type.
type Severity int

// The severities.
const (
	SeverityNone     Severity = 0 // not an event code
	SeverityInfo     Severity = 1
	SeverityLow      Severity = 2
	SeverityMedium   Severity = 3
	SeverityHigh     Severity = 4
	SeverityCritical Severity = 5
)

var severityNames = [...]string{"none", "info", "low", "medium", "high", "critical"}

// String returns the severity's lowercase name.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

var index = func() map[string]int {
	m := make(map[string]int, len(catalogue))
	for i, e := range catalogue {
		m[e.Code] = i
	}
	return m
}()

// Lookup returns the catalogue entry of code.
func Lookup(code string) (Entry, bool) {
	i, ok := index[code]
	if !ok {
		return Entry{}, false
	}
	return catalogue[i], true
}

// All returns every entry, grouped by area in the order of Areas.
func All() []Entry {
	out := slices.Clone(catalogue[:])
	slices.SortStableFunc(out, func(a, b Entry) int { return slices.Index(Areas, a.Area) - slices.Index(Areas, b.Area) })
	return out
}

// Retryable reports whether code is known and a client may send the same
// request again unchanged (Entry.Retry).
func Retryable(code string) bool {
	e, ok := Lookup(code)
	return ok && e.Retry()
}

// SeverityOf returns the severity code's event is recorded with at least:
// its catalogue Severity, or floor if that is lower or the code is unknown.
func SeverityOf(code string, floor Severity) Severity {
	e, _ := Lookup(code)
	return max(e.Severity, floor)
}

// frameCode is the entry of one of package frame's codes.
func frameCode(c frame.Code, status int, sev Severity, kind Kind, meaning string) Entry {
	return Entry{Code: string(c), Area: AreaFrame, Status: status, Severity: sev, Kind: kind, Meaning: meaning}
}

// Package event is fifthwheel's one structured security event and the sinks
// that record it.
//
// Every refusal, duplicate, finding, transition and security-relevant
// action emits exactly one Event (invariant 7, docs/ARCHITECTURE.md); an
// accepted frame is recorded by its frame row instead, and package ingest
// summarizes accepted frames per vehicle and interval. The bus encodes
// each event once and gives every sink the same bytes (Encoded). The SIEM
// formats (the events file, syslog, NATS, the SIEM webhook) are not bus
// sinks: they tail the store and write OCSF (packages siem, ocsf), so a
// SIEM or a disk that fails never fails a caller. The shape follows OCSF loosely:
// a class and activity, a severity, the time, the acting principal, the
// resource acted on, the verdict, a stable reason code, a correlation id and
// typed attributes.
//
// # Security model
//
// Events must never carry secrets (invariant 8). Attribute values pass
// through a sanitizer before any sink sees them: values wrapped in Secret,
// attributes whose key names a secret (token, password, private key, ...),
// and strings that look like a bearer token, a JWT or a PEM private key are
// replaced with "[REDACTED]"; values of unsupported types are replaced too
// rather than formatted. Detection rules match on Code, which is stable.
//
// Events must not be a way to fill the disk either: events fail closed, so
// a full disk would refuse every vehicle. Two rules keep what a peer that has
// not proven who it is can make the gateway write small and fixed:
//
//   - Bounded attributes. Whatever an event copies from input that proves
//     nothing (an unverified certificate's names, crypto/tls's error text, a
//     request's method and path) goes through BoundString or BoundStrings:
//     a few values of at most MaxAttrValueBytes, plus a count and a hash of
//     the rest. The sanitizer also cuts any string or list attribute beyond
//     MaxAttrStringBytes or MaxAttrStrings, as a backstop.
//   - Aggregation. Events about such peers carry the peer's Source (SourceOf
//     its address: an IPv4 address or an IPv6 /64) and go through an
//     Aggregator, which records the first few of each (source, class,
//     activity, code, resource, listener) per window and one summary with
//     the count of the rest. Accepted handshakes and everything a proven
//     principal does stay one event each.
//
// # Compatibility
//
// Event members and reason codes are read by detection rules and SIEMs:
// members may be added (source, the summary attributes), existing ones keep
// their meaning.
package event

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Class groups events by the domain that emits them.
type Class string

// The event classes.
const (
	ClassAuthentication Class = "authentication" // TLS handshakes, certificates, tokens
	ClassAuthorization  Class = "authorization"  // RBAC, approvals
	ClassPKI            Class = "pki"            // issuance, renewal, revocation
	ClassTelemetry      Class = "telemetry"      // frame verdicts, plausibility findings
	ClassLiveness       Class = "liveness"       // heartbeats, comm loss, safe state
	ClassCommand        Class = "command"        // command lifecycle
	ClassAPI            Class = "api"            // request-level refusals (size, rate, format)
	ClassSystem         Class = "system"         // start, stop, migration, configuration
	ClassDetection      Class = "detection"      // detection findings and the rule set (package detect)
	ClassIncident       Class = "incident"       // incidents: lifecycle, clocks, containment
)

// Severity follows OCSF severity_id. It is the catalogue's type: each
// code's lowest severity is codes.Entry.Severity.
type Severity = codes.Severity

// Severities.
const (
	SeverityInfo     = codes.SeverityInfo
	SeverityLow      = codes.SeverityLow
	SeverityMedium   = codes.SeverityMedium
	SeverityHigh     = codes.SeverityHigh
	SeverityCritical = codes.SeverityCritical
)

// Verdict is the outcome of the decision the event records.
type Verdict string

// Verdicts.
const (
	Accept Verdict = "accept"
	Reject Verdict = "reject"
	Info   Verdict = "info" // an action or observation, not an accept/reject decision
)

// Event is one security event.
type Event struct {
	ID            string              `json:"id"`
	Time          time.Time           `json:"time"`
	Class         Class               `json:"class"`
	Activity      string              `json:"activity"`
	Severity      Severity            `json:"severity"`
	Actor         principal.Principal `json:"-"`
	Resource      string              `json:"resource,omitempty"`
	Verdict       Verdict             `json:"verdict"`
	Code          string              `json:"code"`
	CorrelationID string              `json:"correlation_id,omitempty"`
	// Source is set on events about a peer that has not proven who it is
	// (no verified certificate, no valid join token): SourceOf its address.
	// An Aggregator records such events per source and window.
	Source string         `json:"source,omitempty"`
	Attrs  map[string]any `json:"attrs,omitempty"`
}

// MarshalJSON renders the actor in its URI form.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		Actor string `json:"actor,omitempty"`
	}{plain(e), e.Actor.String()})
}

// Subject is the column the store indexes: the resource, or else the actor.
func (e Event) Subject() string {
	if e.Resource != "" {
		return e.Resource
	}
	return e.Actor.String()
}

// Secret wraps a value that must never be recorded. Sinks see "[REDACTED]".
type Secret struct{ _ [0]func() }

// Redacted is what replaces a secret value.
const Redacted = "[REDACTED]"

// Sink records events. Write returns only when the events are recorded as
// well as the sink can promise (the store sink: durably). Every sink of a
// bus receives the same Encoded values: a sink must not modify them.
type Sink interface {
	Write(ctx context.Context, evs []Encoded) error
}

// Encoded is a completed event with its one JSON encoding. The bus encodes
// each event once (Row) and hands the same bytes to every sink, and an
// event costs one encoding however many sinks record it.
type Encoded struct {
	Event Event
	Row   store.EventRow // Row.Body is Event as JSON
}

// Emitter is what domain packages depend on.
type Emitter interface {
	Emit(ctx context.Context, evs ...Event) error
}

// Bus fills in ids and times, sanitizes, and writes to every sink.
type Bus struct {
	sinks []Sink
	now   func() time.Time
	log   *slog.Logger
	stats Stats
}

// Stats counts what the bus did; wired to metrics by the caller.
type Stats interface {
	Emitted(ev *Event)
	SinkError()
}

type noStats struct{}

func (noStats) Emitted(*Event) {}
func (noStats) SinkError()     {}

// NewBus returns a Bus writing to sinks in order. stats may be nil.
func NewBus(log *slog.Logger, stats Stats, sinks ...Sink) *Bus {
	if stats == nil {
		stats = noStats{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Bus{sinks: sinks, now: time.Now, log: log, stats: stats}
}

// ErrSink reports that at least one sink failed to record an event. Callers
// on a decision path fail closed on it.
var ErrSink = errors.New("event: sink failed")

// Emit completes and records evs. Every sink is tried; the first failure is
// returned wrapped in ErrSink.
func (b *Bus) Emit(ctx context.Context, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	encs, err := encode(b.complete(evs))
	if err != nil {
		return err
	}
	return b.deliver(ctx, encs, nil)
}

// encode encodes each completed event once, for every sink.
func encode(evs []Event) ([]Encoded, error) {
	out := make([]Encoded, len(evs))
	for i, ev := range evs {
		r, err := Row(ev)
		if err != nil {
			// Sanitize leaves only types encoding/json encodes; should one
			// fail anyway, the event is not recorded, and the caller fails
			// closed as for a sink that failed.
			return nil, fmt.Errorf("%w: encode: %v", ErrSink, err)
		}
		out[i] = Encoded{Event: ev, Row: r}
	}
	return out, nil
}

// complete fills in ids, times and defaults and sanitizes attributes.
func (b *Bus) complete(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, ev := range evs {
		if ev.ID == "" {
			ev.ID = NewID()
		}
		if ev.Time.IsZero() {
			ev.Time = b.now()
		}
		ev.Time = ev.Time.UTC()
		if ev.Severity == 0 {
			ev.Severity = SeverityInfo
		}
		if ev.Verdict == "" {
			ev.Verdict = Info
		}
		ev.Attrs = Sanitize(ev.Attrs)
		out[i] = ev
	}
	return out
}

// deliver counts evs and writes them to every sink but skip.
func (b *Bus) deliver(ctx context.Context, evs []Encoded, skip func(Sink) bool) error {
	var first error
	for i := range evs {
		b.stats.Emitted(&evs[i].Event)
	}
	for _, s := range b.sinks {
		if skip != nil && skip(s) {
			continue
		}
		if err := s.Write(ctx, evs); err != nil {
			b.stats.SinkError()
			b.log.Error("event sink failed", slog.String("sink", fmt.Sprintf("%T", s)), slog.Any("err", err))
			if first == nil {
				first = fmt.Errorf("%w: %v", ErrSink, err)
			}
		}
	}
	return first
}

// Pending are events a caller records in its own store transaction, so a
// decision and its event become durable together (a stored frame and its
// plausibility finding: a crash keeps both or neither). Rows go into that
// transaction; after it commits, Delivered hands the same encoded events
// to the bus's other sinks.
type Pending struct {
	evs  []Encoded
	Rows []store.EventRow
}

// Prepare completes and encodes evs without recording them. The caller's
// store must be the one the bus's StoreSink writes to.
func (b *Bus) Prepare(evs ...Event) (*Pending, error) {
	encs, err := encode(b.complete(evs))
	if err != nil {
		return nil, err
	}
	p := &Pending{evs: encs, Rows: make([]store.EventRow, len(encs))}
	for i := range encs {
		p.Rows[i] = encs[i].Row
	}
	return p, nil
}

// Delivered reports that the caller's transaction committed the rows of
// the events whose indexes are in recorded (events whose decision did not
// commit are dropped), and writes those events to every sink except the
// store sink, which already holds them.
func (b *Bus) Delivered(ctx context.Context, p *Pending, recorded []int) error {
	if p == nil || len(recorded) == 0 {
		return nil
	}
	evs := make([]Encoded, len(recorded))
	for i, j := range recorded {
		evs[i] = p.evs[j]
	}
	return b.deliver(ctx, evs, func(s Sink) bool { _, ok := s.(*StoreSink); return ok })
}

// NewID returns a 128-bit random identifier, hex encoded.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// secretKeyWords mark an attribute key as naming a secret.
var secretKeyWords = []string{"secret", "password", "passphrase", "token", "private", "privkey",
	"authorization", "cookie", "credential", "api_key", "apikey", "hmac_key", "join_code", "key_material"}

// Sanitize returns a copy of attrs safe to record. Supported value types are
// strings, booleans, integers, floats, time.Time, time.Duration, []string and
// nested map[string]any; anything else is replaced with its type name.
// Strings longer than MaxAttrStringBytes are cut, lists keep their first
// MaxAttrStrings values.
func Sanitize(attrs map[string]any) map[string]any {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if keyNamesSecret(k) {
			out[k] = Redacted
			continue
		}
		out[k] = sanitizeValue(v)
	}
	return out
}

func keyNamesSecret(k string) bool {
	lk := strings.ToLower(k)
	for _, w := range secretKeyWords {
		if strings.Contains(lk, w) {
			return true
		}
	}
	return false
}

func sanitizeValue(v any) any {
	switch x := v.(type) {
	case Secret, *Secret:
		return Redacted
	case string:
		if LooksSecret(x) {
			return Redacted
		}
		return cut(x, MaxAttrStringBytes)
	case []string:
		c := make([]string, min(len(x), MaxAttrStrings))
		for i := range c {
			s := x[i]
			if LooksSecret(s) {
				s = Redacted
			}
			c[i] = cut(s, MaxAttrStringBytes)
		}
		return c
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case map[string]any:
		return Sanitize(x)
	case nil:
		return nil
	default:
		return fmt.Sprintf("[unsupported %T]", v)
	}
}

// LooksSecret reports whether s looks like credential material: a bearer
// header, a JWT/JWS compact serialization, or a PEM private key block.
func LooksSecret(s string) bool {
	if strings.Contains(s, "PRIVATE KEY") {
		return true
	}
	ls := strings.ToLower(s)
	if strings.HasPrefix(ls, "bearer ") || strings.HasPrefix(ls, "dpop ") || strings.HasPrefix(ls, "basic ") {
		return true
	}
	// JWS compact: three base64url segments, the header starting with "eyJ" ('{"').
	if strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") >= 2 {
		return true
	}
	return false
}

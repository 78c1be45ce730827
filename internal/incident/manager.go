package incident

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what the manager needs of the store.
type Store interface {
	store.IncidentStore
	GetClient(ctx context.Context, id string) (store.Client, error)
	SetClientStatus(ctx context.Context, id string, status store.ClientStatus) error
}

// Revoker revokes a principal as a whole: *pki.CA, the path `fifthwheel
// pki revoke --vehicle` takes, which listeners on every replica learn of
// within a second (invariant 6).
type Revoker interface {
	RevokePrincipal(ctx context.Context, p principal.Principal, reason pki.RevocationReason, by principal.Principal) (pki.PrincipalRevocation, error)
}

// Clocks are the notification deadlines, from the moment the gateway
// opened the incident (when it became aware). A zero RegulatorEarlyWarning
// means no early warning clock.
type Clocks struct {
	InternalSafety        time.Duration
	Internal              time.Duration
	Customer              time.Duration
	RegulatorEarlyWarning time.Duration
	Regulator             time.Duration
}

// Config configures the manager. It is data only; zero fields take their
// defaults (limits.go), except Clocks.RegulatorEarlyWarning when
// NoEarlyWarning is set.
type Config struct {
	GroupingWindow   time.Duration
	Clocks           Clocks
	NoEarlyWarning   bool
	EscalateInterval time.Duration
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.GroupingWindow, DefaultGroupingWindow)
	def(&c.Clocks.InternalSafety, DefaultInternalSafety)
	def(&c.Clocks.Internal, DefaultInternal)
	def(&c.Clocks.Customer, DefaultCustomer)
	def(&c.Clocks.Regulator, DefaultRegulator)
	def(&c.EscalateInterval, DefaultEscalateInterval)
	if c.NoEarlyWarning {
		c.Clocks.RegulatorEarlyWarning = 0
	} else {
		def(&c.Clocks.RegulatorEarlyWarning, DefaultRegulatorEarlyWarning)
	}
	return c
}

// Validate checks a configuration with defaults applied.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{{"internal_safety", c.Clocks.InternalSafety, time.Second}, {string(store.ClockInternal), c.Clocks.Internal, time.Second},
		{"customer", c.Clocks.Customer, time.Second}, {"regulator_early_warning", c.Clocks.RegulatorEarlyWarning, 0},
		{"regulator", c.Clocks.Regulator, time.Second}} {
		if d.v < d.min || d.v > MaxClock {
			errs = append(errs, fmt.Errorf("incident: clock %s must be between %v and %v", d.name, d.min, MaxClock))
		}
	}
	if c.GroupingWindow <= 0 || c.GroupingWindow > MaxGroupingWindow {
		errs = append(errs, fmt.Errorf("incident: the grouping window must be between 0 and %v", MaxGroupingWindow))
	}
	if c.EscalateInterval < 10*time.Millisecond || c.EscalateInterval > time.Hour {
		errs = append(errs, errors.New("incident: the escalation interval must be between 10ms and 1h"))
	}
	return errors.Join(errs...)
}

// Deps are the manager's live dependencies.
type Deps struct {
	Store  Store
	Events event.Emitter
	// Revoker, if nil, makes revoke_certificate refuse (a gateway without
	// its CA loaded cannot revoke).
	Revoker Revoker
	// Held, if set, is told of a vehicle whose hold was released, so its
	// queued commands are delivered at once (the session's
	// NotifyCommands); without it, the delivery poll picks them up.
	Released func(vehicle string)
	Log      *slog.Logger
	// Now and Rand default to time.Now and crypto/rand (tests give a fake
	// clock).
	Now  func() time.Time
	Rand io.Reader
}

// Manager groups findings into incidents and runs their lifecycle, clocks
// and containment. It implements detect.Reporter. Every method is safe for
// concurrent use and across replicas: the store decides every race.
type Manager struct {
	cfg Config
	d   Deps
}

var _ detect.Reporter = (*Manager)(nil)

// System is the actor of what the gateway does itself (opening incidents,
// escalating clocks).
var System = principal.Principal{Kind: principal.System, ID: "incidents"}

// New returns a manager; cfg's zero fields take their defaults.
func New(cfg Config, d Deps) (*Manager, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Events == nil {
		return nil, errors.New("incident: a store and an event emitter are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Manager{cfg: cfg, d: d}, nil
}

// Config returns the configuration in force (defaults applied).
func (m *Manager) Config() Config { return m.cfg }

// Error is a refusal: Code is a catalogue code whose Status the HTTP
// layer answers with; Detail is safe to show the caller.
type Error struct {
	Code   string
	Detail string
	// recorded: its event is emitted already (a failed containment
	// action's incident_containment).
	recorded bool
}

func (e *Error) Error() string { return "incident: " + e.Code + ": " + e.Detail }

// ErrNotFound: no such incident (the HTTP layer answers not_found).
var ErrNotFound = errors.New("incident: not found")

func refuse(code, detail string) error { return &Error{Code: code, Detail: detail} }

// refused records a refusal of an operator's request as one security event
// (invariant 7): the code, the actor, the incident. Called deferred by
// every public method that changes an incident.
func (m *Manager) refused(ctx context.Context, actor principal.Principal, id, activity string, errp *error) {
	var r *Error
	if *errp == nil || !errors.As(*errp, &r) || r.recorded {
		return
	}
	if err := m.emit(ctx, event.Event{Code: r.Code, Activity: activity, Actor: actor, Resource: "incident:" + cut(id, MaxShortBytes),
		Verdict: event.Reject, Attrs: map[string]any{"detail": r.Detail}}); err != nil {
		*errp = errors.Join(*errp, err)
	}
}

func (m *Manager) now() time.Time { return m.d.Now().UTC() }

// newID returns "inc-", the time in milliseconds and 80 random bits, in
// hex: ids sort by creation time (the list's cursor) and never collide.
func (m *Manager) newID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := io.ReadFull(m.d.Rand, b[6:]); err != nil {
		return "", fmt.Errorf("incident: random id: %v", err)
	}
	return "inc-" + hex.EncodeToString(b[:]), nil
}

// cut bounds s to n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// clocks returns a new incident's clocks, due from opened.
func (m *Manager) clocks(opened time.Time, safety bool) []store.IncidentClock {
	c := m.cfg.Clocks
	internal := c.Internal
	if safety {
		internal = c.InternalSafety
	}
	out := []store.IncidentClock{{Kind: store.ClockInternal, DueAt: opened.Add(internal)}, {Kind: store.ClockCustomer, DueAt: opened.Add(c.Customer)}}
	if c.RegulatorEarlyWarning > 0 {
		out = append(out, store.IncidentClock{Kind: store.ClockRegulatorEarlyWarning, DueAt: opened.Add(c.RegulatorEarlyWarning)})
	}
	return append(out, store.IncidentClock{Kind: store.ClockRegulator, DueAt: opened.Add(c.Regulator)})
}

// Report files a finding (detect.Reporter): it joins the subject's
// unresolved incident if that incident's last finding is within the
// grouping window of it, else it opens a new incident. A finding whose id
// is stored already changes nothing and is not an error (the detect
// stream delivers at least once). An error means nothing was filed: the
// caller retries.
func (m *Manager) Report(ctx context.Context, f detect.Finding) error {
	if f.ID == "" || f.RuleID == "" || f.SubjectKind == "" || f.Subject == "" || f.At.IsZero() {
		return fmt.Errorf("incident: a finding needs an id, a rule, a subject and a time (finding %q)", f.ID)
	}
	if _, err := m.d.Store.IncidentOfFinding(ctx, f.ID); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	row := findingRow(f)
	now := m.now()
	cur, err := m.d.Store.LatestUnresolvedIncident(ctx, f.SubjectKind, f.Subject)
	switch {
	case err == nil && within(f.At, cur.LastFindingAt, m.cfg.GroupingWindow):
		err := m.d.Store.AddIncidentFinding(ctx, cur.ID, row, now)
		if errors.Is(err, store.ErrConflict) {
			return nil // filed meanwhile (another holder of the stream)
		}
		return err
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	id, err := m.newID(now)
	if err != nil {
		return err
	}
	inc := store.Incident{ID: id, SubjectKind: f.SubjectKind, Subject: cut(f.Subject, MaxShortBytes), Title: row.Title, Severity: row.Severity,
		Safety: f.Safety, State: store.IncidentOpen, OpenedAt: now, UpdatedAt: now, LastFindingAt: f.At.UTC(), RuleIDs: []string{f.RuleID}}
	clocks := m.clocks(now, f.Safety)
	if err := m.d.Store.CreateIncident(ctx, inc, row, clocks, System.String()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if _, e2 := m.d.Store.IncidentOfFinding(ctx, f.ID); e2 == nil {
				return nil
			}
		}
		return err
	}
	due := map[string]any{}
	for _, c := range clocks {
		due[string(c.Kind)] = c.DueAt.Format(time.RFC3339)
	}
	return m.emit(ctx, event.Event{Code: codes.IncidentOpened, Activity: "incident_open", Actor: System, Resource: "incident:" + id,
		Verdict: event.Info, Severity: codes.SeverityOf(codes.IncidentOpened, f.Severity),
		Attrs: map[string]any{"subject_kind": f.SubjectKind, "subject": inc.Subject, "rule": f.RuleID, "finding": f.ID, "safety": f.Safety, "due": due}})
}

// within reports whether at is no more than window after (or before) last.
func within(at, last time.Time, window time.Duration) bool {
	d := at.Sub(last)
	if d < 0 {
		d = -d
	}
	return d <= window
}

func findingRow(f detect.Finding) store.IncidentFinding {
	evs := f.EventIDs
	if len(evs) > MaxFindingEvents {
		evs = evs[:MaxFindingEvents]
	}
	first := f.FirstAt
	if first.IsZero() {
		first = f.At
	}
	return store.IncidentFinding{ID: cut(f.ID, MaxShortBytes), RuleID: cut(f.RuleID, MaxShortBytes), Title: cut(f.Title, MaxTextBytes),
		Severity: int(f.Severity), Safety: f.Safety, FirstAt: first.UTC(), At: f.At.UTC(), Count: f.Count, EventIDs: evs,
		Runbook: cut(f.Runbook, MaxTextBytes)}
}

// emit records ev in the incident class.
func (m *Manager) emit(ctx context.Context, ev event.Event) error {
	ev.Class = event.ClassIncident
	if ev.Severity == 0 {
		ev.Severity = codes.SeverityOf(ev.Code, event.SeverityInfo)
	}
	return m.d.Events.Emit(ctx, ev)
}

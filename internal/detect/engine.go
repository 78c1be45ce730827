package detect

import (
	"container/list"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Engine evaluates events against a rule set: sliding windows per (rule,
// group key), counted in event time (the time each event records), so a
// replayed or time-scaled stream is evaluated as it happened. It is not
// safe for concurrent use; the Detector serializes it.
//
// A rule fires when the events of one key in its window reach its
// threshold; the window then empties and the key is quiet for one window
// (events in it are not counted), so a flood makes one finding per window
// and key, not one per event. An aggregated summary event (attrs.aggregated
// with attrs.count, see event.Aggregator) counts as count events.
type Engine struct {
	set    *RuleSet
	rules  []*ruleState
	byCode map[string][]*ruleState
	noCode []*ruleState // rules that match by class only
	nkeys  int
	stats  EngineStats
}

// EngineStats counts what an Engine did.
type EngineStats struct {
	Evaluated  int64 // events evaluated
	Findings   int64 // findings made (committed)
	Evicted    int64 // idle keys dropped to make room
	Overflowed int64 // events counted in an overflow window because the key table was full
}

type ruleState struct {
	Rule
	codes map[string]bool
	key   string // the rule's definition, to keep its windows across reloads
	wins  map[groupKey]*window
	lru   *list.List // of *window, least recently touched first
}

type groupKey struct{ kind, subject string }

// overflowSubject is the subject of a rule's overflow window.
const overflowSubject = "*"

type window struct {
	key        groupKey
	slots      []slot // oldest first
	ids        []string
	idSlots    []int64
	quietUntil time.Time
	last       time.Time
	elem       *list.Element
}

type slot struct {
	n       int64
	at      int64 // slot number
	firstID string
	firstAt time.Time
}

// NewEngine returns an engine evaluating set.
func NewEngine(set *RuleSet) *Engine {
	return newEngineFrom(set, nil)
}

// newEngineFrom returns an engine for set that keeps old's windows of the
// rules whose definition did not change (a reload must not forget a
// threshold about to be reached); changed and new rules start empty.
func newEngineFrom(set *RuleSet, old *Engine) *Engine {
	e := &Engine{set: set, byCode: map[string][]*ruleState{}}
	prev := map[string]*ruleState{}
	if old != nil {
		for _, r := range old.rules {
			prev[r.key] = r
		}
		e.stats = old.stats
	}
	for _, r := range set.Rules {
		rs := &ruleState{Rule: r, key: ruleKey(r), wins: map[groupKey]*window{}, lru: list.New()}
		if p, ok := prev[rs.key]; ok {
			rs.wins, rs.lru = p.wins, p.lru
			delete(prev, rs.key)
		}
		e.nkeys += len(rs.wins)
		if len(r.Match.Codes) > 0 {
			rs.codes = map[string]bool{}
			for _, c := range r.Match.Codes {
				rs.codes[c] = true
				e.byCode[c] = append(e.byCode[c], rs)
			}
		} else {
			e.noCode = append(e.noCode, rs)
		}
		e.rules = append(e.rules, rs)
	}
	return e
}

// ruleKey is a rule's definition as a string (runbook and description
// excluded: rewording them keeps the windows).
func ruleKey(r Rule) string {
	b, _ := json.Marshal([]any{r.ID, r.Severity, r.Safety, r.Match, r.GroupBy, r.Window, r.Threshold})
	return string(b)
}

// Rules returns the rule set in force.
func (e *Engine) Rules() *RuleSet { return e.set }

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats { return e.stats }

// Keys returns how many windows the engine holds.
func (e *Engine) Keys() int { return e.nkeys }

// Input is an event as the engine reads it.
type Input struct {
	ID      string
	At      time.Time
	Class   string
	Verdict string
	Code    string
	Subject string
	Actor   string
	Res     string
	Source  string
	Attrs   map[string]any
}

// InputOf reads a stored event: the indexed columns, and from the body the
// actor, resource, source and attributes. A body that does not parse
// leaves those empty (the event is then grouped by its subject).
func InputOf(r store.EventRow) Input {
	in := Input{ID: r.ID, At: r.Time, Class: r.Class, Verdict: r.Verdict, Code: r.Code, Subject: r.Subject}
	var body struct {
		Actor    string         `json:"actor"`
		Resource string         `json:"resource"`
		Source   string         `json:"source"`
		Attrs    map[string]any `json:"attrs"`
	}
	if json.Unmarshal(r.Body, &body) == nil {
		in.Actor, in.Res, in.Source, in.Attrs = body.Actor, body.Resource, body.Source, body.Attrs
	}
	return in
}

// needsBody reports whether any rule could match an event with this code
// and class, i.e. whether its body is worth parsing.
func (e *Engine) needsBody(code, class string) bool {
	if slices.Contains(ignoredClasses, class) {
		return false
	}
	return len(e.byCode[code]) > 0 || len(e.noCode) > 0
}

// Evaluate returns the findings in would make, without changing anything
// (commit false), or makes them and updates the windows (commit true). The
// Detector reports a peek's findings first and commits only once they are
// recorded, so a failure leaves the windows as they were and the
// re-delivered event fires again with the same finding ids.
func (e *Engine) Evaluate(in Input, commit bool) []Finding {
	if slices.Contains(ignoredClasses, in.Class) {
		return nil
	}
	var out []Finding
	for _, rs := range e.byCode[in.Code] {
		if f, ok := e.step(rs, in, commit); ok {
			out = append(out, f)
		}
	}
	for _, rs := range e.noCode {
		if f, ok := e.step(rs, in, commit); ok {
			out = append(out, f)
		}
	}
	if commit {
		e.stats.Evaluated++
		e.stats.Findings += int64(len(out))
	}
	return out
}

func (r *ruleState) matches(in Input) bool {
	m := r.Match
	if m.Class != "" && m.Class != in.Class {
		return false
	}
	if m.Verdict != "" && m.Verdict != in.Verdict {
		return false
	}
	for k, want := range m.Attrs {
		if attrText(in.Attrs[k]) != want {
			return false
		}
	}
	for k, not := range m.ExceptAttrs {
		if attrText(in.Attrs[k]) == not {
			return false
		}
	}
	return true
}

// attrText is an attribute's value as a rule compares it.
func attrText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return "\x00" // absent or not a scalar: equals nothing a rule can say
	}
}

// weight is how many events in stands for: an aggregated summary's count.
func weight(in Input) int64 {
	if agg, _ := in.Attrs["aggregated"].(bool); agg {
		if n, ok := in.Attrs["count"].(float64); ok && n >= 1 {
			return int64(min(n, MaxThreshold))
		}
	}
	return 1
}

// step evaluates in against one rule.
func (e *Engine) step(rs *ruleState, in Input, commit bool) (Finding, bool) {
	if !rs.matches(in) {
		return Finding{}, false
	}
	k := groupOf(rs.GroupBy, in)
	w := rs.wins[k]
	var evict *window
	if w == nil {
		k, w, evict = e.placeNew(rs, k, in.At)
	}
	width := int64(rs.Window / WindowSlots)
	cur := in.At.UnixNano() / width
	wt := weight(in)
	if w != nil && in.At.Before(w.quietUntil) {
		if commit {
			e.touch(rs, w, in.At)
		}
		return Finding{}, false
	}
	var sum int64
	if w != nil {
		for _, s := range w.slots {
			if s.at >= cur-WindowSlots {
				sum += s.n
			}
		}
	}
	fires := sum+wt >= rs.Threshold
	var f Finding
	if fires {
		f = e.finding(rs, k, w, in, cur, sum+wt)
	}
	if !commit {
		return f, fires
	}
	if evict != nil {
		e.drop(rs, evict)
	}
	if w == nil {
		w = &window{key: k}
		w.elem = rs.lru.PushBack(w)
		rs.wins[k] = w
		e.nkeys++
		if k.subject == overflowSubject {
			e.stats.Overflowed++
		}
	} else if k.subject == overflowSubject {
		e.stats.Overflowed++
	}
	e.touch(rs, w, in.At)
	if fires {
		w.slots, w.ids, w.idSlots = nil, nil, nil
		w.quietUntil = in.At.Add(rs.Window)
	} else {
		w.prune(cur)
		if n := len(w.slots); n > 0 && w.slots[n-1].at >= cur {
			w.slots[n-1].n += wt // this slot, or an event older than the newest: into the newest
		} else {
			w.slots = append(w.slots, slot{n: wt, at: cur, firstID: in.ID, firstAt: in.At})
		}
		if len(w.ids) < MaxFindingEvents {
			w.ids = append(w.ids, in.ID)
			w.idSlots = append(w.idSlots, cur)
		}
	}
	e.sweep(rs, in.At)
	return f, fires
}

func (e *Engine) finding(rs *ruleState, k groupKey, w *window, in Input, cur, count int64) Finding {
	firstID, firstAt := in.ID, in.At
	var ids []string
	if w != nil {
		for _, s := range w.slots {
			if s.at >= cur-WindowSlots {
				firstID, firstAt = s.firstID, s.firstAt
				break
			}
		}
		for i, id := range w.ids {
			if w.idSlots[i] >= cur-WindowSlots {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) < MaxFindingEvents {
		ids = append(ids, in.ID)
	}
	return Finding{
		ID: findingID(rs.ID, k.kind, k.subject, firstID), RuleID: rs.ID, Title: rs.Description, Severity: rs.Severity,
		Safety: rs.Safety, SubjectKind: k.kind, Subject: k.subject, FirstAt: firstAt, At: in.At, Count: int(count),
		EventIDs: ids, Runbook: rs.Runbook,
	}
}

// prune drops the slots and ids that left the window at slot cur.
func (w *window) prune(cur int64) {
	i := 0
	for i < len(w.slots) && w.slots[i].at < cur-WindowSlots {
		i++
	}
	w.slots = w.slots[i:]
	j := 0
	for j < len(w.idSlots) && w.idSlots[j] < cur-WindowSlots {
		j++
	}
	w.ids, w.idSlots = w.ids[j:], w.idSlots[j:]
}

// idle reports whether w holds nothing that matters at t: its last event
// left the window and its quiet period is over.
func (w *window) idle(rs *ruleState, t time.Time) bool {
	return !t.Before(w.last.Add(rs.Window+rs.Window/WindowSlots)) && !t.Before(w.quietUntil)
}

func (e *Engine) touch(rs *ruleState, w *window, t time.Time) {
	if t.After(w.last) {
		w.last = t
	}
	rs.lru.MoveToBack(w.elem)
}

func (e *Engine) drop(rs *ruleState, w *window) {
	rs.lru.Remove(w.elem)
	delete(rs.wins, w.key)
	e.nkeys--
}

// sweep drops the rule's least recently touched window if it is idle: one
// per event, so idle keys do not pile up.
func (e *Engine) sweep(rs *ruleState, t time.Time) {
	if f := rs.lru.Front(); f != nil {
		if w := f.Value.(*window); w.idle(rs, t) {
			e.drop(rs, w)
			e.stats.Evicted++
		}
	}
}

// placeNew decides where the events of a key without a window go: a new
// window (after evicting an idle one if the tables are full), or the rule's
// overflow window. It changes nothing; the caller commits.
func (e *Engine) placeNew(rs *ruleState, k groupKey, t time.Time) (groupKey, *window, *window) {
	if len(rs.wins) < MaxKeysPerRule && e.nkeys < MaxKeys {
		return k, nil, nil
	}
	if f := rs.lru.Front(); f != nil {
		if w := f.Value.(*window); w.idle(rs, t) {
			return k, nil, w
		}
	}
	ok := groupKey{kind: k.kind, subject: overflowSubject}
	return ok, rs.wins[ok], nil
}

// groupOf is the key of in under a grouping; see GroupBy.
func groupOf(g GroupBy, in Input) groupKey {
	switch g {
	case GroupGateway:
		return groupKey{SubjectGateway, SubjectGateway}
	case GroupSource:
		if in.Source != "" {
			return groupKey{SubjectSource, cut(in.Source)}
		}
	case GroupVehicle:
		if id := principalOf(principal.Vehicle, in.Res, in.Actor); id != "" {
			return groupKey{SubjectVehicle, id}
		}
		if v, ok := in.Attrs["vehicle"].(string); ok && principal.ValidID(v) {
			return groupKey{SubjectVehicle, v}
		}
	case GroupClient:
		if id := principalOf(principal.Client, in.Res, in.Actor); id != "" {
			return groupKey{SubjectClient, id}
		}
	case GroupOperator:
		if id := principalOf(principal.Operator, in.Actor, in.Res); id != "" {
			return groupKey{SubjectOperator, id}
		}
	case GroupActor:
		if k, ok := principalKey(in.Actor); ok {
			return k
		}
	}
	return subjectKey(in)
}

// subjectKey groups by the store's subject column: a vehicle, client or
// operator when it is one, else the gateway (a route, a token key, a
// tender) under that subject.
func subjectKey(in Input) groupKey {
	if k, ok := principalKey(in.Subject); ok {
		return k
	}
	if in.Source != "" {
		return groupKey{SubjectSource, cut(in.Source)}
	}
	if in.Subject != "" {
		return groupKey{SubjectGateway, cut(in.Subject)}
	}
	return groupKey{SubjectGateway, SubjectGateway}
}

func principalKey(uri string) (groupKey, bool) {
	p, err := principal.ParseURI(uri)
	if err != nil {
		return groupKey{}, false
	}
	switch p.Kind {
	case principal.Vehicle:
		return groupKey{SubjectVehicle, p.ID}, true
	case principal.Client:
		return groupKey{SubjectClient, p.ID}, true
	case principal.Operator:
		return groupKey{SubjectOperator, p.ID}, true
	default:
		return groupKey{SubjectGateway, SubjectGateway}, true
	}
}

// principalOf returns the id of the first of uris that is a principal of
// kind.
func principalOf(kind principal.Kind, uris ...string) string {
	for _, u := range uris {
		if p, err := principal.ParseURI(u); err == nil && p.Kind == kind {
			return p.ID
		}
	}
	return ""
}

// cut bounds a key taken from event text (a source, a resource).
func cut(s string) string {
	if len(s) > MaxSubjectBytes {
		return s[:MaxSubjectBytes]
	}
	return s
}

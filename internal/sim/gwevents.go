package sim

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// EventLister is what the report needs of the gateway: its security events
// as the store keeps them (store.Store has it). The gateway-side figures
// come from the events the gateway itself recorded, not from anything the
// simulator saw: the liveness monitor's comm_lost transitions (attributes
// last_heartbeat, deadline, detection_latency_ms), the session layer's
// resumes and the telemetry pipeline's plausibility findings.
type EventLister interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventRow, error)
}

// The event codes the report reads.
var gatewayCodes = []string{
	codes.CommLost,
	codes.LivenessEventsDropped,
	codes.SessionResumeSent,
	codes.PositionJump,
	codes.SpeedDisagreement,
}

// gwEvent is one gateway event about a fleet vehicle.
type gwEvent struct {
	Code    string
	Vehicle string // "" when the event is not about a vehicle
	Time    time.Time
	Attrs   map[string]any
}

func (e gwEvent) attrTime(name string) time.Time {
	s, _ := e.Attrs[name].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (e gwEvent) attrNumber(name string) (float64, bool) {
	f, ok := e.Attrs[name].(float64)
	return f, ok
}

// gatewayLog reads the gateway's events incrementally: mark notes where
// each code's events end, poll reads what came after.
type gatewayLog struct {
	l     EventLister
	mu    sync.Mutex
	after map[string]int64
	evs   map[string][]gwEvent
}

func newGatewayLog(l EventLister) *gatewayLog {
	return &gatewayLog{l: l, after: map[string]int64{}, evs: map[string][]gwEvent{}}
}

const vehicleSubjectPrefix = "urn:fifthwheel:vehicle:"

// mark skips every event recorded so far.
func (g *gatewayLog) mark(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, code := range gatewayCodes {
		for {
			rows, err := g.l.ListEvents(ctx, store.EventFilter{AfterSeq: g.after[code], Code: code, Limit: store.MaxPage})
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				break
			}
			g.after[code] = rows[len(rows)-1].Seq
		}
	}
	return nil
}

// poll reads the events of code recorded since the last poll (or mark).
func (g *gatewayLog) poll(ctx context.Context, code string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		rows, err := g.l.ListEvents(ctx, store.EventFilter{AfterSeq: g.after[code], Code: code, Limit: store.MaxPage})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			var body struct {
				Time  time.Time      `json:"time"`
				Attrs map[string]any `json:"attrs"`
			}
			_ = json.Unmarshal(r.Body, &body)
			if body.Time.IsZero() {
				body.Time = r.Time
			}
			id, _ := strings.CutPrefix(r.Subject, vehicleSubjectPrefix)
			if id == r.Subject {
				id = ""
			}
			g.evs[code] = append(g.evs[code], gwEvent{Code: code, Vehicle: id, Time: body.Time, Attrs: body.Attrs})
		}
		g.after[code] = rows[len(rows)-1].Seq
	}
}

func (g *gatewayLog) pollAll(ctx context.Context) error {
	for _, code := range gatewayCodes {
		if err := g.poll(ctx, code); err != nil {
			return err
		}
	}
	return nil
}

// settle reads the events until none has come for eventQuiet (at least
// eventSettleMin, at most eventSettleMax): the gateway records them
// asynchronously.
func (g *gatewayLog) settle(ctx context.Context) error {
	start, lastNew := time.Now(), time.Now()
	for {
		before := g.count()
		if err := g.pollAll(ctx); err != nil {
			return err
		}
		now := time.Now()
		if g.count() != before {
			lastNew = now
		}
		if el := now.Sub(start); el >= eventSettleMax || (el >= eventSettleMin && now.Sub(lastNew) >= eventQuiet) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(eventQuiet / 2):
		}
	}
}

func (g *gatewayLog) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, evs := range g.evs {
		n += len(evs)
	}
	return n
}

// events returns the events of code read so far.
func (g *gatewayLog) events(code string) []gwEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gwEvent(nil), g.evs[code]...)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// TestDetectBacktest: `detect backtest` over a store holding a replayed
// frame's event (an hour old, among other events) reports a frame-replay
// finding about the truck, as text and as JSON, and changes nothing: the
// same stream head and events (no detection_finding recorded), no
// incident, no stream consumer, no events file written. --since shorter
// than the event's age finds nothing; --from past it likewise.
func TestDetectBacktest(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, store.Config{DataDir: data, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-5"}
	gw := principal.Principal{Kind: principal.System, ID: "gateway"}
	at := time.Now().Add(-time.Hour)
	var rows []store.EventRow
	for i, ev := range []event.Event{
		{Class: event.ClassSystem, Activity: "start", Actor: gw, Verdict: event.Info, Code: codes.GatewayStarted, Time: at.Add(-time.Minute)},
		{Class: event.ClassTelemetry, Activity: "frame", Severity: event.SeverityHigh, Actor: truck, Resource: truck.String(),
			Verdict: event.Reject, Code: codes.Replay, Time: at, Attrs: map[string]any{"source": "live", "kind": "telemetry", "epoch": 1, "seq": 7}},
		{Class: event.ClassSystem, Activity: "stop", Actor: gw, Verdict: event.Info, Code: codes.GatewayStopped, Time: at.Add(time.Minute)},
	} {
		ev.ID = "bt-" + string(rune('a'+i))
		ev.Severity = codes.SeverityOf(ev.Code, ev.Severity)
		r, err := event.Row(ev)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if err := st.AppendEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	snapshot := func() (store.StreamPos, int, int, int) {
		t.Helper()
		head, err := st.EventStreamHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := st.ListEvents(ctx, store.EventFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		incs, err := st.ListIncidents(ctx, store.IncidentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := st.StreamConsumers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return head, len(evs), len(incs), len(cs)
	}
	head, nev, ninc, ncons := snapshot()

	out := mustCLI(t, nil, "detect", "backtest", "--data", data, "--since", "2h")
	for _, want := range []string{"events evaluated  3 ", "findings          1", "frame-replay  1"} {
		if !strings.Contains(out, want) {
			t.Errorf("backtest output lacks %q:\n%s", want, out)
		}
	}
	var res backtestJSON
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "detect", "backtest", "--data", data, "--from", "0", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Evaluated != 3 || res.FindingsRule["frame-replay"] != 1 || len(res.Findings) != 1 ||
		res.Findings[0].Subject != "truck-5" || res.Findings[0].EventIDs[0] != "bt-b" || res.Rules != "shipped" {
		t.Errorf("backtest -o json: %+v", res)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "detect", "backtest", "--data", data, "--since", "30m", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Evaluated != 0 || len(res.Findings) != 0 {
		t.Errorf("backtest --since 30m (the events are older): %+v", res)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "detect", "backtest", "--data", data, "--from", "2", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Evaluated != 1 || len(res.Findings) != 0 {
		t.Errorf("backtest --from 2 (past the replay): %+v", res)
	}

	if h, n, i, c := snapshot(); h != head || n != nev || i != ninc || c != ncons {
		t.Errorf("the backtest changed the store: head %d→%d, events %d→%d, incidents %d→%d, consumers %d→%d",
			head, h, nev, n, ninc, i, ncons, c)
	}
	if _, err := os.Stat(filepath.Join(data, "events.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the backtest wrote the events file (%v)", err)
	}
	if r := cli(t, nil, "detect", "backtest", "--data", data, "--since", "1h", "--from", "0"); r.code != 2 {
		t.Errorf("--since with --from: exit %d, want 2 (usage)", r.code)
	}
}

package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect/recording"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// recordedFleet is the recording of a real simulated fleet's normal run:
// `fifthwheel sim fleet` (20 trucks, 60 s, no faults, 50 ms of jitter)
// against `serve --dev`, every event it stored in stream order. It is
// regenerated with
//
//	go test ./cmd/fifthwheel -run TestRecordNormalFleet -record
//
// Format: package recording.
const recordedFleet = "testdata/normal-fleet.jsonl"

// readRecording reads the recording strictly: unknown members refused, the
// header's count checked.
func readRecording(t *testing.T) (recording.Header, []recording.Event) {
	t.Helper()
	b, err := os.ReadFile(recordedFleet)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	strict := func(line []byte, v any) {
		d := json.NewDecoder(bytes.NewReader(line))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			t.Fatalf("%s: %v: %s", recordedFleet, err, line)
		}
	}
	var h recording.Header
	var evs []recording.Event
	for sc.Scan() {
		if h.Fixture == "" {
			strict(sc.Bytes(), &h)
			continue
		}
		var e recording.Event
		strict(sc.Bytes(), &e)
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if h.Fixture != "normal-fleet" || len(evs) != h.Events || len(h.Vehicles) == 0 {
		t.Fatalf("%s: header %+v with %d events", recordedFleet, h, len(evs))
	}
	return h, evs
}

// tileRecording repeats the recorded run back to back until it covers
// span: tile k is shifted by k times the run's length (rounded up to the
// second, plus a second) and its vehicles are renamed (<id>-m<k>), so each
// tile is another minute of a fleet of the same size, whose trucks boot,
// drive and stop like the recorded ones, rather than the same 20 trucks
// rebooting every minute (which is not a normal hour: it would be three
// safe states and resumes per truck in half an hour). Other principals (the
// operator who enrolled the fleet, the gateway's own actors, the source
// address) keep their names. It returns the rows in time order.
func tileRecording(t *testing.T, h recording.Header, evs []recording.Event, start time.Time, span time.Duration) ([]store.EventRow, time.Duration) {
	t.Helper()
	last := evs[len(evs)-1].MS
	period := time.Duration(last/1000+2) * time.Second
	ids := append([]string{}, h.Vehicles...)
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) > len(ids[j]) }) // longest first
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = regexp.QuoteMeta(id)
	}
	// A vehicle id, not followed by another character of an id.
	re := regexp.MustCompile(`(` + strings.Join(quoted, "|") + `)([^A-Za-z0-9._-]|$)`)
	var rows []store.EventRow
	n := 0
	for k := 0; time.Duration(k)*period < span; k++ {
		suffix := fmt.Sprintf("-m%02d", k)
		rename := func(s string) string { return re.ReplaceAllString(s, "${1}"+suffix+"${2}") }
		for _, e := range evs {
			n++
			attrs := map[string]any{}
			for key, v := range e.Attrs {
				if s, ok := v.(string); ok {
					v = rename(s)
				}
				attrs[key] = v
			}
			body, err := json.Marshal(map[string]any{"actor": rename(e.Actor), "resource": rename(e.Resource), "source": e.Source, "attrs": attrs})
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, store.EventRow{Seq: int64(n), ID: fmt.Sprintf("rec%07d", n),
				Time:  start.Add(time.Duration(k)*period + time.Duration(e.MS)*time.Millisecond),
				Class: e.Class, Verdict: e.Verdict, Code: e.Code, Subject: rename(e.Subject), Body: body})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	return rows, period
}

// TestRecordedFleetHourOpensNothing: a real simulated fleet's normal run
// (recordedFleet), tiled over an hour, makes no finding of the shipped
// rules; the same hour with one replayed frame makes exactly that finding.
// TestNormalFleetHourOpensNothing does the same with a synthetic stream
// that has what this recording lacks (commands, tokens, re-sends, a
// restart).
func TestRecordedFleetHourOpensNothing(t *testing.T) {
	h, evs := readRecording(t)
	established := 0
	for _, e := range evs {
		if e.Code == codes.SessionEstablished {
			established++
		}
	}
	if established < len(h.Vehicles) || len(h.Vehicles) < 20 {
		t.Fatalf("the recording has %d sessions of %d vehicles: not the fleet's run", established, len(h.Vehicles))
	}
	rows, period := tileRecording(t, h, evs, t0, time.Hour)
	if got := rows[len(rows)-1].Time.Sub(rows[0].Time); got < time.Hour-period {
		t.Fatalf("the tiled stream spans %v, not an hour", got)
	}
	fs := run(NewEngine(Shipped()), rows)
	if len(fs) != 0 {
		var b strings.Builder
		for _, f := range fs[:min(len(fs), 20)] {
			fmt.Fprintf(&b, "\n  %s %s/%s count %d from %v", f.RuleID, f.SubjectKind, f.Subject, f.Count, f.FirstAt.Sub(t0))
		}
		t.Fatalf("the recorded fleet's hour (%d events, %d tiles of %v) made %d findings:%s", len(rows), len(rows)/len(evs), period, len(fs), b.String())
	}
	t.Logf("%d events, %d tiles of %v, no finding", len(rows), len(rows)/len(evs), period)

	// The control: one replayed frame of a vehicle of the middle tile.
	mid := len(rows) / 2
	victim := h.Vehicles[0] + fmt.Sprintf("-m%02d", int(rows[mid].Time.Sub(t0)/period))
	replay := row(t, about(GroupVehicle, victim, codes.Replay, rows[mid].Time))
	withReplay := append(append(append([]store.EventRow{}, rows[:mid]...), replay), rows[mid:]...)
	if fs := run(NewEngine(Shipped()), withReplay); len(fs) != 1 || fs[0].RuleID != "frame-replay" || fs[0].Subject != victim {
		t.Fatalf("the hour with a replay of %s: %+v", victim, fs)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/detect/recording"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

var record = flag.Bool("record", false, "TestRecordNormalFleet: run a real simulated fleet and rewrite "+normalFleetFixture)

// normalFleetFixture is the recording package detect's
// TestRecordedFleetHourOpensNothing replays (its format is documented
// there, in recordedEvent).
const normalFleetFixture = "../../internal/detect/testdata/normal-fleet.jsonl"

// The recorded run: 20 trucks for 60 s, no faults, 50 ms of jitter,
// against serve --dev as shipped (startGateway).
var normalFleetArgs = []string{"--vehicles", "20", "--duration", "60s", "--blackout-fraction", "0", "--jitter", "50ms"}

// TestRecordNormalFleet regenerates the recording of a real simulated
// fleet's normal run that package detect replays, time-tiled to an hour,
// through the shipped rules (TestRecordedFleetHourOpensNothing):
//
//	go test ./cmd/fifthwheel -run TestRecordNormalFleet -record -v
//
// It runs `sim fleet` (normalFleetArgs) against serve --dev, waits until
// the detection consumer has evaluated every stored event and the fleet's
// sessions have ended, and writes every event the run stored, in stream
// (commit) order, keeping what the rules read: codes, classes, verdicts,
// subjects, actors, resources, sources, times and the attributes rules
// match on. Events carry no secrets (invariant 8); the recording keeps no
// frame, key or certificate. A finding the gateway made during the run is
// reported as a failure: the recording is then not of a quiet run.
// Without -record it is skipped: it rewrites a file under testdata.
func TestRecordNormalFleet(t *testing.T) {
	if !*record {
		t.Skip("regenerates " + normalFleetFixture + ": run with -record")
	}
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, fleetEnv)
	st, err := store.Open(ctx, g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	from, err := st.EventStreamHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, rep := simFleet(t, g, normalFleetArgs...)
	if r.code != exitOK || rep == nil {
		t.Fatalf("sim fleet: exit %d", r.code)
	}
	// Past the liveness deadline (3 s), so what the gateway records after
	// the fleet stops (its sessions' ends) is in the recording.
	time.Sleep(5 * time.Second)
	g.waitDetectCaughtUp()

	var evs []store.StreamEvent
	for pos := from; ; {
		page, err := st.ReadEventStream(ctx, pos, store.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		evs = append(evs, page...)
		pos = page[len(page)-1].Pos
	}
	if len(evs) == 0 {
		t.Fatal("the run stored no event")
	}

	keep := readAttrs()
	hdr := recording.Header{Fixture: "normal-fleet", Regenerate: "go test ./cmd/fifthwheel -run TestRecordNormalFleet -record",
		Run: append([]string{"fifthwheel", "sim", "fleet"}, normalFleetArgs...), Recorded: time.Now().UTC().Format(time.RFC3339),
		Excluded: map[string]int{}}
	vehicles := map[string]bool{}
	var body bytes.Buffer
	var findings []string
	t0 := evs[0].Time
	for _, e := range evs {
		in := detect.InputOf(e.EventRow)
		if e.Code == codes.DetectionFinding {
			findings = append(findings, string(e.Body))
		}
		if in.Class == "detection" || in.Class == "incident" {
			hdr.Excluded[in.Class]++
			continue
		}
		fe := recording.Event{MS: in.At.Sub(t0).Milliseconds(), Class: in.Class, Code: in.Code, Verdict: in.Verdict, Subject: in.Subject,
			Actor: in.Actor, Resource: in.Res, Source: in.Source}
		for k, v := range in.Attrs {
			if keep[k] {
				if fe.Attrs == nil {
					fe.Attrs = map[string]any{}
				}
				fe.Attrs[k] = v
			}
		}
		for _, s := range []string{in.Actor, in.Subject, in.Res} {
			if id, ok := vehicleOf(s); ok {
				vehicles[id] = true
			}
		}
		b, err := json.Marshal(fe)
		if err != nil {
			t.Fatal(err)
		}
		body.Write(b)
		body.WriteByte('\n')
		hdr.Events++
	}
	for v := range vehicles {
		hdr.Vehicles = append(hdr.Vehicles, v)
	}
	sort.Strings(hdr.Vehicles)
	if len(hdr.Vehicles) != 20 {
		t.Errorf("the recording names %d vehicles, want the fleet's 20: %v", len(hdr.Vehicles), hdr.Vehicles)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append(h, '\n'), body.Bytes()...)
	if err := os.WriteFile(normalFleetFixture, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events over %v, %d bytes", normalFleetFixture, hdr.Events, evs[len(evs)-1].Time.Sub(t0), len(out))
	if len(findings) != 0 {
		t.Errorf("the gateway made %d findings during the normal run:\n%s", len(findings), fmt.Sprint(findings))
	}
}

// readAttrs are the attributes detection reads: those a shipped rule
// matches on, and those the engine itself reads (an aggregate's count, a
// command's vehicle).
func readAttrs() map[string]bool {
	keep := map[string]bool{"aggregated": true, "count": true, "vehicle": true}
	for _, r := range detect.Shipped().Rules {
		for k := range r.Match.Attrs {
			keep[k] = true
		}
	}
	return keep
}

// vehicleOf returns the vehicle id of a vehicle principal's URI.
func vehicleOf(s string) (string, bool) {
	const prefix = "urn:fifthwheel:vehicle:"
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// TestDemoViewPlain: when stdout is not a terminal, every fleet status and
// every finished drill is one plain line, with the drill count, and no
// terminal control sequence.
func TestDemoViewPlain(t *testing.T) {
	var b bytes.Buffer
	v := newDemoView(&b, 2)
	v.fleet(sim.Summary{Elapsed: 2 * time.Second, Phase: "running", Vehicles: 3, Started: 3, Connected: 3, Driving: 2, SafeState: 1, CommLost: 1, Acked: 42})
	v.drill(drill.Result{Name: "a", Outcome: drill.Pass, DurationMS: 1500})
	v.drill(drill.Result{Name: "b", Outcome: drill.Fail, Reason: "want x, got y"})
	v.fleet(sim.Summary{Phase: "running", CommLost: -1})
	v.endStatus()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"fleet   2.0s running      trucks 3/3 connected 3 | driving 2 stopping 0 safe_state 1 | comm_lost seen 1 | telemetry acked 42",
		"drill [1/2] a                          pass (1.5 s)",
		"drill [2/2] b                          fail (0.0 s): want x, got y",
		"fleet   0.0s running      trucks 0/0 connected 0 | driving 0 stopping 0 safe_state 0 | telemetry acked 0",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if strings.ContainsAny(b.String(), "\r\x1b") {
		t.Error("control characters in the plain output")
	}
}

// TestDemoViewTerminal: on a terminal the status line is redrawn in
// place: each status erases the line first and ends without a newline; a
// drill's line erases the status, prints, and redraws it below; the end
// erases it.
func TestDemoViewTerminal(t *testing.T) {
	var b bytes.Buffer
	v := &demoView{w: &b, tty: true, drillsTotal: 1}
	v.fleet(sim.Summary{Phase: "running", Vehicles: 1, Started: 1, Driving: 1, CommLost: 0, Acked: 5})
	status1 := "fleet   0.0s running      trucks 1/1 connected 0 | driving 1 stopping 0 safe_state 0 | comm_lost seen 0 | telemetry acked 5 | drills 0/1"
	v.drill(drill.Result{Name: "a", Outcome: drill.NotAvailable})
	v.fleet(sim.Summary{Phase: "stopping", Vehicles: 1, Started: 1, SafeState: 1, CommLost: 0, Acked: 9})
	status2 := "fleet   0.0s stopping     trucks 1/1 connected 0 | driving 0 stopping 0 safe_state 1 | comm_lost seen 0 | telemetry acked 9 | drills 1/1"
	v.endStatus()
	v.printf("summary\n")
	want := clearLine + status1 +
		clearLine + "drill [1/1] a                          not_available\n" + strings.Replace(status1, "drills 0/1", "drills 1/1", 1) +
		clearLine + status2 +
		clearLine + "summary\n"
	if got := b.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestIsTerminal: a buffer and a pipe are not terminals.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) || isTerminal(&bytes.Buffer{}) {
		t.Error("a pipe or a buffer taken for a terminal")
	}
}

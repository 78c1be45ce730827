package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// demoStatusEvery is how often the demo shows the fleet's states.
const demoStatusEvery = 2 * time.Second

// clearLine returns the cursor to the line's start and erases the line
// (ECMA-48 EL, "erase in line", whole line).
const clearLine = "\r\x1b[2K"

// demoView is the demo's terminal output: permanent lines (a phase, a
// finished drill) and a status line (the fleet's states, the drill
// count). On a terminal the status line is redrawn in place below the
// permanent lines; otherwise each status is one more plain line, so that
// a log or a pipe reads as it did. Its methods are safe for concurrent
// use: the fleet and the drills report from their own goroutines.
type demoView struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status string // the status line shown (tty only)

	drillsTotal, drillsDone int
	last                    *sim.Summary // the fleet's last summary
}

func newDemoView(w io.Writer, drills int) *demoView {
	return &demoView{w: w, tty: isTerminal(w), drillsTotal: drills}
}

// isTerminal reports whether w is a character device (a terminal):
// golang.org/x/term is not a dependency, and this is all the view needs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printf writes permanent text above the status line.
func (v *demoView) printf(format string, args ...any) {
	v.lock(func(w io.Writer) { fmt.Fprintf(w, format, args...) })
}

// lock runs f with the writer to itself, the status line erased first
// and redrawn after.
func (v *demoView) lock(f func(io.Writer)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty && v.status != "" {
		io.WriteString(v.w, clearLine)
	}
	f(v.w)
	if v.tty && v.status != "" {
		io.WriteString(v.w, v.status)
	}
}

// setStatus shows s as the status line.
func (v *demoView) setStatus(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		fmt.Fprintln(v.w, s)
		return
	}
	v.status = s
	io.WriteString(v.w, clearLine+s)
}

// endStatus erases the status line for good: what follows is plain.
func (v *demoView) endStatus() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty && v.status != "" {
		io.WriteString(v.w, clearLine)
	}
	v.status = ""
}

// fleet shows the fleet's live summary as the status line.
func (v *demoView) fleet(s sim.Summary) {
	v.mu.Lock()
	v.last = &s
	line := v.statusLine()
	v.mu.Unlock()
	v.setStatus(line)
}

// statusLine renders the last fleet summary, with the drill count on a
// terminal (where the line stays in view). v.mu is held.
func (v *demoView) statusLine() string {
	s := v.last
	var b strings.Builder
	fmt.Fprintf(&b, "fleet %5.1fs %-12s trucks %d/%d connected %d | driving %d stopping %d safe_state %d",
		s.Elapsed.Seconds(), phaseWord(s.Phase), s.Started, s.Vehicles, s.Connected, s.Driving, s.Stopping, s.SafeState)
	if s.CommLost >= 0 {
		fmt.Fprintf(&b, " | comm_lost seen %d", s.CommLost)
	}
	fmt.Fprintf(&b, " | telemetry acked %d", s.Acked)
	if v.tty {
		fmt.Fprintf(&b, " | drills %d/%d", v.drillsDone, v.drillsTotal)
	}
	return b.String()
}

// phaseWord is the first word of the fleet's phase ("waiting for trucks
// to drive" is "waiting").
func phaseWord(p string) string {
	if i := strings.IndexByte(p, ' '); i > 0 {
		return p[:i]
	}
	return p
}

// drill prints a finished drill as a permanent line with the count.
func (v *demoView) drill(r drill.Result) {
	v.mu.Lock()
	v.drillsDone++
	n, total := v.drillsDone, v.drillsTotal
	if v.tty && v.status != "" {
		v.status = v.statusLine() // redrawn below the drill's line, counted
	}
	v.mu.Unlock()
	width := len(fmt.Sprint(total))
	line := fmt.Sprintf("drill [%*d/%d] %-26s %s", width, n, total, r.Name, r.Outcome)
	if r.Outcome != drill.NotAvailable {
		line += fmt.Sprintf(" (%.1f s)", r.DurationMS/1000)
	}
	if r.Outcome == drill.Fail && r.Reason != "" {
		line += ": " + r.Reason
	}
	v.printf("%s\n", line)
}

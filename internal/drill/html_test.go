package drill_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// reporter is where readHTML reports what it refuses: a *testing.T, or a
// recorder when the test is that it refuses.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// htmlPage is what a strict read of the HTML report found.
type htmlPage struct {
	ids      map[string]bool
	sections map[string]string // section id → its text
	elems    map[string]int
	text     string
	classes  map[string]int // class → count of elements
}

// readHTML reads the report strictly as XML (every element closed, every
// attribute quoted, only HTML's entities: the page is written so), and
// fails the test for anything that would make the page reach outside
// itself or run code: a script, an event handler, a src, an href that is
// not a link to one of its own sections, an object, an iframe, a link
// element, a stylesheet import or url().
func readHTML(t reporter, b []byte) htmlPage {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict, d.Entity = true, xml.HTMLEntity
	pg := htmlPage{ids: map[string]bool{}, sections: map[string]string{}, elems: map[string]int{}, classes: map[string]int{}}
	var hrefs []string
	var all, style strings.Builder
	var stack []string
	section := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("the HTML report is not well-formed: %v", err)
			return pg
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(tk.Name.Local)
			stack = append(stack, name)
			pg.elems[name]++
			switch name {
			case "script", "iframe", "object", "embed", "link", "img", "base", "form", "frame", "audio", "video", "source":
				t.Errorf("the HTML report has a <%s> element", name)
			}
			for _, a := range tk.Attr {
				an, av := strings.ToLower(a.Name.Local), a.Value
				switch {
				case strings.HasPrefix(an, "on"):
					t.Errorf("<%s> has an event handler %s", name, an)
				case an == "href":
					hrefs = append(hrefs, av)
				case an == "src" || an == "srcset" || an == "action" || an == "formaction" || an == "data" || an == "poster":
					t.Errorf("<%s> refers outside the page: %s=%q", name, an, av)
				case an == "id":
					pg.ids[av] = true
					if name == "section" {
						section = av
					}
				case an == "class":
					pg.classes[av]++
				}
				if lv := strings.ToLower(av); strings.Contains(lv, "http:") || strings.Contains(lv, "https:") {
					t.Errorf("<%s %s=%q> names a network address", name, an, av)
				}
			}
		case xml.EndElement:
			if n := len(stack); n > 0 {
				if stack[n-1] == "section" {
					section = ""
				}
				stack = stack[:n-1]
			}
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] == "style" {
				style.Write(tk)
			}
			all.Write(tk)
			if section != "" {
				pg.sections[section] += string(tk)
			}
		}
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h, "#") || !pg.ids[h[1:]] {
			t.Errorf("href %q is not a link to a section of the page", h)
		}
	}
	if s := strings.ToLower(style.String()); strings.Contains(s, "url(") || strings.Contains(s, "@import") {
		t.Errorf("the style sheet loads something")
	}
	pg.text = all.String()
	return pg
}

// sampleFleet is a fleet report as sim builds it: a timed row over its
// limit, a timed row within, a count row, a row with nothing to measure.
func sampleFleet() *sim.Report {
	return &sim.Report{Vehicles: 7, ScenarioMS: 18000, SLAs: []sim.SLA{
		{Name: "vehicle: last answered heartbeat → safe_state, from cruise", Stat: "max", Value: 12000, Limit: 15000, N: 2, Result: sim.Pass,
			Dist: &sim.Dist{N: 2, Min: 11000, P50: 11000, P99: 12000, Max: 12000}},
		{Name: "gateway: last heartbeat → comm_lost", Stat: "p99", Value: 3900, Limit: 3200, N: 2, Result: sim.Fail,
			Reason: "p99 3900 ms, over the limit of 3200 ms", Dist: &sim.Dist{N: 2, Min: 3100, P50: 3100, P99: 3900, Max: 3900}},
		{Name: "gateway: false comm_lost", Stat: "count", Value: 0, Limit: 0, N: 2, Result: sim.Pass},
		{Name: "gateway: blackouts without comm_lost", Stat: "count", Value: 0, Limit: 0, N: 0, Result: sim.NotApplicable},
	}}
}

// TestHTMLReport: the page is one self-contained, well-formed document
// with every section; a failed drill's reason, checks, events and timing
// are in it; a timing over its SLA is a failed row of the SLA table with
// its chart; the coverage matrix and the seed checklist say "not covered"
// where no drill covers; the fleet's figures are there when a fleet
// drove; and hostile text in a drill's evidence stays text.
func TestHTMLReport(t *testing.T) {
	hostile := `<script>alert("x")</script><a href="http://evil.example/">`
	drills := []drill.Drill{
		{Name: "slow-revocation", Control: "revocation within 1 s", Asset: "identities", Actor: "forger", Vector: "v",
			Checklist: drill.SeedChecklist()[1].Text,
			Run: func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
				p.Check("live session closed", "typed close", "typed close")
				p.Event(store.EventRow{Seq: 41, Time: time.Now(), Code: "cert_revoked_marker", Verdict: "info", Subject: "vehicle:x"})
				p.Timing("live session closed after the revocation", 1500*time.Millisecond, time.Second)
				return nil
			}},
		{Name: "hostile-evidence", Control: "c2", Asset: "telemetry", Actor: "forger", Vector: "v", Checklist: "a checklist item of no seed list",
			Run: func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
				p.Check("frame refused", "replay", hostile)
				return nil
			}},
		{Name: "fine", Control: "c3", Asset: "telemetry", Actor: "insider", Vector: "v", Checklist: drill.SeedChecklist()[2].Text,
			Run: func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
				p.Check("ok", "x", "x")
				p.Timing("gateway: comm_lost after the last heartbeat", 3000*time.Millisecond, 3200*time.Millisecond)
				return nil
			}},
		{Name: "later", Control: "c4", Asset: "commands", Actor: "insider", Vector: "v", Checklist: drill.SeedChecklist()[1].Text, Issue: 20},
	}
	res := drill.Run(context.Background(), &drill.Target{}, drills, drill.Config{})
	rep := drill.NewReport("test", time.Now(), time.Now(), res)
	rep.Fleet = drill.FleetFrom(sampleFleet())
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	pg := readHTML(t, b.Bytes())

	for _, id := range []string{"summary", "sla", "fleet", "coverage", "checklist", "drills", "evidence"} {
		if !pg.ids[id] {
			t.Errorf("no section %q", id)
		}
	}
	if pg.elems["svg"] == 0 {
		t.Error("no inline SVG chart")
	}
	if pg.elems["a"] > 7 {
		t.Errorf("%d links: the hostile evidence became markup", pg.elems["a"])
	}
	if !strings.Contains(pg.sections["evidence"], hostile) {
		t.Error("the hostile check's text is not shown as text in the evidence")
	}

	// The failed drill's evidence: reason, check, event, timing.
	ev := pg.sections["evidence"]
	for _, want := range []string{"slow-revocation: fail", "over its SLA of 1000 ms", "live session closed", "cert_revoked_marker", "1500.0 ms"} {
		if !strings.Contains(ev, want) {
			t.Errorf("the evidence section does not show %q", want)
		}
	}
	sum := pg.sections["summary"]
	for _, want := range []string{"1 passed, 2 failed, 1 not available", "revocation within 1 s", "slow-revocation (fail)", "later (not_available)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("the summary does not show %q", want)
		}
	}

	// The SLA table: both drill timings with an SLA and the fleet's timed
	// rows with data; the untimed one is not there.
	sla := pg.sections["sla"]
	for _, want := range []string{"live session closed after the revocation", "1500.0", "gateway: comm_lost after the last heartbeat",
		"fleet (p99 of 2)", "gateway: last heartbeat → comm_lost", "3900.0", "fleet (max of 2)"} {
		if !strings.Contains(sla, want) {
			t.Errorf("the SLA table does not show %q", want)
		}
	}
	if strings.Contains(sla, "refusal round trip") || strings.Contains(sla, "false comm_lost") {
		t.Error("the SLA table shows a figure without an SLA")
	}
	if pg.elems["rect"] < 4 {
		t.Errorf("%d chart bars, want one per SLA row and timing", pg.elems["rect"])
	}

	fl := pg.sections["fleet"]
	for _, want := range []string{"7 trucks", "gateway: false comm_lost", "not_applicable", "3100.0", "over the limit of 3200 ms"} {
		if !strings.Contains(fl, want) {
			t.Errorf("the fleet section does not show %q", want)
		}
	}

	// Coverage: 3 assets × 2 actors, 4 cells covered, the rest "not
	// covered"; the failed drill's cell is failed.
	cov := pg.sections["coverage"]
	if n := strings.Count(cov, "not covered"); n != 6-4+1 { // +1: the explanation
		t.Errorf("%d cells say not covered, want 2", n-1)
	}
	if !strings.Contains(cov, "slow-revocation (fail)") {
		t.Error("the coverage matrix does not show the failed drill")
	}

	// Checklist: an item both a failed and a not-available drill name is
	// failed; one no drill names is not covered; a drill's item outside
	// the seed's lists is still listed.
	cl := pg.sections["checklist"]
	for _, want := range []string{"a drill evidencing it failed", "not covered by any drill",
		"Automate OTA image signing and require secure boot.", "a checklist item of no seed list",
		"Comm-loss detection", "gateway: comm_lost after the last heartbeat: 3000.0 ms of 3200 ms", "not measured in this run"} {
		if !strings.Contains(cl, want) {
			t.Errorf("the checklist section does not show %q", want)
		}
	}
	if got, want := strings.Count(cl, "not covered by any drill"), len(drill.SeedChecklist())-2; got != want {
		t.Errorf("%d checklist items not covered, want %d", got, want)
	}
}

// TestHTMLReportWithoutFleet: without a fleet the section is absent and
// the page still holds together.
func TestHTMLReportWithoutFleet(t *testing.T) {
	rep := drill.NewReport("test", time.Now(), time.Now(), nil)
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	pg := readHTML(t, b.Bytes())
	if pg.ids["fleet"] || !pg.ids["sla"] || !strings.Contains(pg.sections["sla"], "No timing with an SLA") {
		t.Errorf("sections %v", pg.ids)
	}
}

// TestReadHTMLRefusesOutsideReferences: the strict reader the tests rely
// on does catch a script, an external source and a broken page.
func TestReadHTMLRefusesOutsideReferences(t *testing.T) {
	for name, page := range map[string]string{
		"script":       `<html><body><script>x()</script></body></html>`,
		"external_img": `<html><body><img src="http://x/y.png"/></body></html>`,
		"external_a":   `<html><body><a href="https://x/">x</a></body></html>`,
		"style_url":    `<html><head><style>body{background:url(x.png)}</style></head><body></body></html>`,
		"not_closed":   `<html><body><p>x</body></html>`,
		"handler":      `<html><body onload="x()"></body></html>`,
	} {
		t.Run(name, func(t *testing.T) {
			var r recorder
			readHTML(&r, []byte(page))
			if len(r.msgs) == 0 {
				t.Errorf("the reader accepts %s", page)
			}
		})
	}
}

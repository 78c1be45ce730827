package drill

import (
	"fmt"
	"math"
)

// page is what the HTML report shows, derived from a Report: the
// per-control summary, the SLA table, the threat-model coverage matrix
// and the seed's checklist and SLA list with the drills evidencing them.
type page struct {
	*Report
	Controls  []controlRow
	SLAs      []slaRow
	Assets    []string
	Actors    []string
	Coverage  [][]cell // [asset][actor]
	Checklist []checklistRow
	SeedSLAs  []seedSLARow
}

// drillRef names a drill and its outcome, where a table cites it.
type drillRef struct {
	Name    string
	Outcome Outcome
}

type controlRow struct {
	Control string
	Outcome Outcome
	Drills  []drillRef
	Reasons []string
}

// slaRow is one measured timing against its limit.
type slaRow struct {
	Source  string // the drill, or "fleet (p99 of 12)"
	Name    string
	MS      float64
	LimitMS float64
	Outcome Outcome
}

type cell struct {
	Drills []drillRef
	Class  string // an outcome, or "uncovered"
}

type checklistRow struct {
	Section string
	Text    string
	Drills  []drillRef
	Class   string
	Status  string
}

type seedSLARow struct {
	SeedSLA
	Rows   []slaRow
	Class  string
	Status string
}

// uncovered is the class of a matrix cell or checklist item no drill
// covers.
const uncovered = "uncovered"

func newPage(r *Report) *page {
	p := &page{Report: r}
	p.controls()
	p.slas()
	p.coverage()
	p.checklist()
	p.seedSLAs()
	return p
}

// worst is the outcome a group of drills shows: fail if any failed, pass
// if any passed, else not available; "uncovered" for none.
func worst(ds []drillRef) string {
	if len(ds) == 0 {
		return uncovered
	}
	out := NotAvailable
	for _, d := range ds {
		switch d.Outcome {
		case Pass:
			if out == NotAvailable {
				out = Pass
			}
		case NotAvailable:
		default:
			return string(Fail)
		}
	}
	return string(out)
}

func (p *page) controls() {
	at := map[string]int{}
	for _, d := range p.Drills {
		i, ok := at[d.Control]
		if !ok {
			i = len(p.Controls)
			at[d.Control] = i
			p.Controls = append(p.Controls, controlRow{Control: d.Control})
		}
		c := &p.Controls[i]
		c.Drills = append(c.Drills, drillRef{d.Name, d.Outcome})
		if d.Outcome == Fail && d.Reason != "" {
			c.Reasons = append(c.Reasons, d.Name+": "+d.Reason)
		}
	}
	for i := range p.Controls {
		p.Controls[i].Outcome = Outcome(worst(p.Controls[i].Drills))
	}
}

func (p *page) slas() {
	for _, d := range p.Drills {
		for _, t := range d.Timings {
			if t.SLAMS <= 0 {
				continue
			}
			o := Pass
			if t.MS > t.SLAMS {
				o = Fail
			}
			p.SLAs = append(p.SLAs, slaRow{Source: d.Name, Name: t.Name, MS: t.MS, LimitMS: t.SLAMS, Outcome: o})
		}
	}
	if p.Fleet == nil {
		return
	}
	for _, f := range p.Fleet.Figures {
		if !f.Timed() || f.N == 0 {
			continue
		}
		p.SLAs = append(p.SLAs, slaRow{Source: fmt.Sprintf("fleet (%s of %d)", f.Stat, f.N), Name: f.Name,
			MS: f.Value, LimitMS: f.Limit, Outcome: f.Outcome})
	}
}

func (p *page) coverage() {
	ai, ci := map[string]int{}, map[string]int{}
	for _, d := range p.Drills {
		if _, ok := ai[d.Asset]; !ok {
			ai[d.Asset] = len(p.Assets)
			p.Assets = append(p.Assets, d.Asset)
		}
		if _, ok := ci[d.Actor]; !ok {
			ci[d.Actor] = len(p.Actors)
			p.Actors = append(p.Actors, d.Actor)
		}
	}
	p.Coverage = make([][]cell, len(p.Assets))
	for i := range p.Coverage {
		p.Coverage[i] = make([]cell, len(p.Actors))
	}
	for _, d := range p.Drills {
		c := &p.Coverage[ai[d.Asset]][ci[d.Actor]]
		c.Drills = append(c.Drills, drillRef{d.Name, d.Outcome})
	}
	for _, row := range p.Coverage {
		for j := range row {
			row[j].Class = worst(row[j].Drills)
		}
	}
}

func (p *page) checklist() {
	by := map[string][]drillRef{}
	var order []string
	for _, d := range p.Drills {
		if _, ok := by[d.Checklist]; !ok {
			order = append(order, d.Checklist)
		}
		by[d.Checklist] = append(by[d.Checklist], drillRef{d.Name, d.Outcome})
	}
	seen := map[string]bool{}
	add := func(section, text string) {
		ds := by[text]
		row := checklistRow{Section: section, Text: text, Drills: ds, Class: worst(ds)}
		switch row.Class {
		case uncovered:
			row.Status = "not covered by any drill"
		case string(Fail):
			row.Status = "a drill evidencing it failed"
		case string(NotAvailable):
			row.Status = "its drills are not available yet"
		default:
			row.Status = "evidenced: its drills passed"
			for _, d := range ds {
				if d.Outcome == NotAvailable {
					row.Status = "partly evidenced: some of its drills are not available yet"
				}
			}
		}
		p.Checklist = append(p.Checklist, row)
		seen[text] = true
	}
	for _, it := range SeedChecklist() {
		add(it.Section, it.Text)
	}
	for _, text := range order {
		if !seen[text] {
			add(sectionOther, text)
		}
	}
}

func (p *page) seedSLAs() {
	for _, s := range SeedSLAs() {
		row := seedSLARow{SeedSLA: s}
		for _, r := range p.SLAs {
			if s.measures(r.Name) {
				row.Rows = append(row.Rows, r)
			}
		}
		row.Class, row.Status = uncovered, "not measured in this run"
		if len(row.Rows) > 0 {
			row.Class, row.Status = string(Pass), "measured: within the limit"
			for _, r := range row.Rows {
				if r.Outcome != Pass {
					row.Class, row.Status = string(Fail), "measured: over the limit"
				}
			}
		}
		p.SeedSLAs = append(p.SeedSLAs, row)
	}
}

// slaBar is an SLA row's bar in pixels: the limit at 200 px, capped at
// 300 (one and a half times the limit).
func slaBar(r slaRow) int {
	if r.LimitMS <= 0 {
		return 0
	}
	return int(math.Max(1, math.Min(300, 200*r.MS/r.LimitMS)))
}

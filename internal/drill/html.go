package drill

import (
	"fmt"
	"html/template"
	"io"
	"math"
)

// WriteHTML writes the report as one self-contained HTML page: no script,
// no external stylesheet, font or image, no link but to its own sections;
// the timing bars are inline SVG. Every value is escaped by html/template.
// The page is also well-formed XML (void elements closed), so that a test
// can check it strictly without an HTML parser.
//
// Its sections: the outcome per control; the SLA table (every timing with
// an SLA, of the drills and of the fleet when one drove); the fleet's SLA
// figures; the threat-model coverage (assets × actors); the seed's
// checklist and SLA list with the drills and figures evidencing them; the
// drills as performed; and each drill's evidence.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, newPage(r))
}

// barWidth is the SVG bar of a timing in pixels (out of 300): against its
// SLA when it has one (the SLA at 200 px), else on a log scale.
func barWidth(t Timing) int {
	if t.SLAMS > 0 {
		return int(math.Min(300, 200*t.MS/t.SLAMS))
	}
	return int(math.Min(300, 40*math.Log10(1+t.MS)))
}

// optMS formats an optional figure in milliseconds.
func optMS(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f", *v)
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"bar": barWidth, "slabar": slaBar, "optms": optMS, "secs": func(ms float64) float64 { return ms / 1000 },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>fifthwheel drill report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
.pass{background:#e3f6e3}.fail{background:#fbe0e0}.not_available,.not_applicable{background:#eee;color:#666}
.uncovered{background:#fff8e0;color:#7a5b00}
code{font-size:12px}
nav a{margin-right:1em}
</style></head><body>
<h1>fifthwheel drill report</h1>
<p>Schema <code>{{.Schema}}</code> · target: {{.Target}} · {{.Started.Format "2006-01-02 15:04:05Z07:00"}} to {{.Finished.Format "15:04:05Z07:00"}}</p>
<nav><a href="#summary">summary</a><a href="#sla">SLA</a>{{if .Fleet}}<a href="#fleet">fleet</a>{{end}}<a href="#coverage">threat-model coverage</a><a href="#checklist">seed checklist</a><a href="#drills">drills</a><a href="#evidence">evidence</a></nav>

<section id="summary">
<h2>Summary: outcome per control</h2>
<p><strong>{{.Summary.Pass}} passed, {{.Summary.Fail}} failed, {{.Summary.NotAvailable}} not available.</strong>
A drill that is not available needs a capability that has not landed; it is never counted as passed.</p>
<table><tr><th>outcome</th><th>control</th><th>drills</th></tr>
{{range .Controls}}<tr class="{{.Outcome}}"><td>{{.Outcome}}</td><td>{{.Control}}{{range .Reasons}}<br/><em>{{.}}</em>{{end}}</td><td>{{range $i, $d := .Drills}}{{if $i}}, {{end}}{{$d.Name}} ({{$d.Outcome}}){{end}}</td></tr>
{{end}}</table>
</section>

<section id="sla">
<h2>SLA: measured timings against their limits</h2>
{{if .SLAs}}<p>Each bar is the measured time; the red line is the limit (the bar is capped at one and a half times it).</p>
<table><tr><th>source</th><th>timing</th><th>measured (ms)</th><th>limit (ms)</th><th>chart</th><th>outcome</th></tr>
{{range .SLAs}}<tr class="{{.Outcome}}"><td>{{.Source}}</td><td>{{.Name}}</td><td>{{printf "%.1f" .MS}}</td><td>{{printf "%.0f" .LimitMS}}</td><td><svg width="310" height="14" role="img" aria-label="{{.Name}}: {{printf "%.1f" .MS}} of {{printf "%.0f" .LimitMS}} ms"><rect x="0" y="2" width="{{slabar .}}" height="10" fill="{{if eq .Outcome "pass"}}#4a7{{else}}#c44{{end}}"/><line x1="200" y1="0" x2="200" y2="14" stroke="#c00"/></svg></td><td>{{.Outcome}}</td></tr>
{{end}}</table>{{else}}<p>No timing with an SLA was measured in this run.</p>{{end}}
</section>
{{with .Fleet}}
<section id="fleet">
<h2>Fleet: SLA figures of the simulated fleet</h2>
<p>{{.Vehicles}} trucks on the real agent drove against the same gateway for a {{printf "%.1f" (secs .ScenarioMS)}} s scenario while the drills ran; the rows are those of <code>sim fleet --check</code>.</p>
<table><tr><th>figure</th><th>stat</th><th>n</th><th>p50 (ms)</th><th>p99 (ms)</th><th>max (ms)</th><th>value</th><th>limit</th><th>outcome</th></tr>
{{range .Figures}}<tr class="{{.Outcome}}"><td>{{.Name}}{{if .Reason}}<br/><em>{{.Reason}}</em>{{end}}</td><td>{{.Stat}}</td><td>{{.N}}</td><td>{{optms .P50MS}}</td><td>{{optms .P99MS}}</td><td>{{optms .MaxMS}}</td><td>{{printf "%.1f" .Value}}</td><td>{{printf "%.1f" .Limit}}</td><td>{{.Outcome}}</td></tr>
{{end}}</table>
</section>
{{end}}
<section id="coverage">
<h2>Threat-model coverage</h2>
<p>Assets (rows) against actors (columns) of docs/THREATMODEL.md, with the drills that cover each cell and their outcome; a cell no drill covers says "not covered".</p>
<table><tr><th>asset \ actor</th>{{range .Actors}}<th>{{.}}</th>{{end}}</tr>
{{range $i, $row := .Coverage}}<tr><th>{{index $.Assets $i}}</th>{{range $row}}<td class="{{.Class}}">{{if .Drills}}{{range $j, $d := .Drills}}{{if $j}}<br/>{{end}}{{$d.Name}} ({{$d.Outcome}}){{end}}{{else}}not covered{{end}}</td>{{end}}</tr>
{{end}}</table>
</section>

<section id="checklist">
<h2>Seed checklist</h2>
<p>The seed's developer checklist, testing and validation list and re-route decision flow, each with the drills that name it as what they evidence. An item no drill names is listed as not covered.</p>
<table><tr><th>section</th><th>item</th><th>drills</th><th>status</th></tr>
{{range .Checklist}}<tr class="{{.Class}}"><td>{{.Section}}</td><td>{{.Text}}</td><td>{{range $i, $d := .Drills}}{{if $i}}<br/>{{end}}{{$d.Name}} ({{$d.Outcome}}){{else}}none{{end}}</td><td>{{.Status}}</td></tr>
{{end}}</table>
<h3>Seed SLA list</h3>
<table><tr><th>the seed's SLA</th><th>what the gateway holds itself to</th><th>measured in this run</th><th>status</th></tr>
{{range .SeedSLAs}}<tr class="{{.Class}}"><td>{{.Seed}}</td><td>{{.Gateway}}</td><td>{{range $i, $r := .Rows}}{{if $i}}<br/>{{end}}{{$r.Source}}: {{$r.Name}}: {{printf "%.1f" $r.MS}} ms of {{printf "%.0f" $r.LimitMS}} ms{{else}}nothing{{end}}</td><td>{{.Status}}</td></tr>
{{end}}</table>
</section>

<section id="drills">
<h2>Drills as performed</h2>
<table><tr><th>outcome</th><th>drill</th><th>control</th><th>asset</th><th>actor</th><th>attack vector</th><th>seed checklist item</th></tr>
{{range .Drills}}<tr class="{{.Outcome}}"><td>{{.Outcome}}{{if .Issue}} (issue {{.Issue}}){{end}}</td><td>{{.Name}}</td><td>{{.Control}}</td><td>{{.Asset}}</td><td>{{.Actor}}</td><td>{{.Vector}}</td><td>{{.Checklist}}</td></tr>
{{end}}</table>
</section>

<section id="evidence">
<h2>Evidence</h2>
{{range .Drills}}{{if ne .Outcome "not_available"}}<h3 class="{{.Outcome}}">{{.Name}}: {{.Outcome}}</h3>
{{if .Reason}}<p>{{.Reason}}</p>{{end}}
<table><tr><th>check</th><th>expected</th><th>seen</th><th>ok</th></tr>
{{range .Checks}}<tr class="{{if .OK}}pass{{else}}fail{{end}}"><td>{{.What}}</td><td><code>{{.Want}}</code></td><td><code>{{.Got}}</code></td><td>{{.OK}}</td></tr>
{{end}}</table>
{{if .Events}}<table><tr><th>event seq</th><th>time</th><th>code</th><th>verdict</th><th>subject</th></tr>
{{range .Events}}<tr><td>{{.Seq}}</td><td>{{.Time.Format "15:04:05.000"}}</td><td><code>{{.Code}}</code></td><td>{{.Verdict}}</td><td><code>{{.Subject}}</code></td></tr>
{{end}}</table>{{end}}
{{range .Timings}}<p>{{.Name}}: {{printf "%.1f" .MS}} ms{{if .SLAMS}} (SLA {{printf "%.0f" .SLAMS}} ms){{end}}
<svg width="310" height="14" role="img" aria-label="{{.Name}}"><rect x="0" y="2" width="{{bar .}}" height="10" fill="#4a7"/>{{if .SLAMS}}<line x1="200" y1="0" x2="200" y2="14" stroke="#c00"/>{{end}}</svg></p>
{{end}}{{end}}{{end}}
</section>
</body></html>
`))

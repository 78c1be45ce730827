package drill

import (
	"html/template"
	"io"
	"math"
)

// WriteHTML writes the report as one self-contained HTML page: no script,
// no external stylesheet, font or image; the timing bars are inline SVG.
// Every value is escaped by html/template.
func (r *Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, r)
}

// barWidth is the SVG bar of a timing in pixels (out of 300): against its
// SLA when it has one (the SLA at 200 px), else on a log scale.
func barWidth(t Timing) int {
	if t.SLAMS > 0 {
		return int(math.Min(300, 200*t.MS/t.SLAMS))
	}
	return int(math.Min(300, 40*math.Log10(1+t.MS)))
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"bar": barWidth}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fifthwheel drill report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
.pass{background:#e3f6e3}.fail{background:#fbe0e0}.not_available{background:#eee;color:#666}
code{font-size:12px}
</style></head><body>
<h1>fifthwheel drill report</h1>
<p>Schema <code>{{.Schema}}</code> · target: {{.Target}} · {{.Started.Format "2006-01-02 15:04:05Z07:00"}} to {{.Finished.Format "15:04:05Z07:00"}}</p>
<p><strong>{{.Summary.Pass}} passed, {{.Summary.Fail}} failed, {{.Summary.NotAvailable}} not available.</strong>
A drill that is not available needs a capability that has not landed; it is never counted as passed.</p>
<h2>Controls</h2>
<table><tr><th>outcome</th><th>drill</th><th>control</th><th>asset</th><th>actor</th><th>attack vector</th><th>seed checklist item</th></tr>
{{range .Drills}}<tr class="{{.Outcome}}"><td>{{.Outcome}}{{if .Issue}} (issue {{.Issue}}){{end}}</td><td>{{.Name}}</td><td>{{.Control}}</td><td>{{.Asset}}</td><td>{{.Actor}}</td><td>{{.Vector}}</td><td>{{.Checklist}}</td></tr>
{{end}}</table>
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
</body></html>
`))

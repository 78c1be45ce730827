package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
)

// SchemaVersion names the report's JSON schema
// (docs/drill-report.schema.json). Members may be added within a version;
// a member that changes meaning or goes away makes a new version.
const SchemaVersion = "fifthwheel.drill-report/v1"

// The report's file names in the report directory.
const (
	JSONReportName = "drill-report.json"
	HTMLReportName = "drill-report.html"
)

// Report is one run of the catalogue.
type Report struct {
	Schema   string    `json:"schema"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Target describes the gateway drilled ("in-process gateway in a
	// temporary directory", or its address).
	Target  string   `json:"target"`
	Summary Summary  `json:"summary"`
	Drills  []Result `json:"drills"`
	// Fleet, when a simulated fleet drove against the gateway during the
	// drills (fifthwheel demo), is its SLA figures; set it with FleetFrom.
	// It does not count in Summary or Failed: the fleet's check is its
	// own.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Summary counts the outcomes.
type Summary struct {
	Pass         int `json:"pass"`
	Fail         int `json:"fail"`
	NotAvailable int `json:"not_available"`
}

// NewReport assembles a report from results.
func NewReport(target string, started, finished time.Time, res []Result) *Report {
	r := &Report{Schema: SchemaVersion, Started: started.UTC(), Finished: finished.UTC(), Target: target,
		Drills: append([]Result{}, res...)}
	for _, d := range res {
		switch d.Outcome {
		case Pass:
			r.Summary.Pass++
		case NotAvailable:
			r.Summary.NotAvailable++
		default:
			r.Summary.Fail++
		}
	}
	return r
}

// Failed reports whether any drill failed (not_available is not a
// failure, nor a pass).
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes one line per drill and the summary.
func (r *Report) WriteTable(w io.Writer) error {
	for _, d := range r.Drills {
		line := fmt.Sprintf("%-14s %-24s %s", d.Outcome, d.Name, d.Control)
		if d.Reason != "" {
			line += "\n               " + d.Reason
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed, %d not available\n", r.Summary.Pass, r.Summary.Fail, r.Summary.NotAvailable)
	return err
}

// WriteFiles writes the JSON and HTML reports into dir, each atomically
// (a reader sees the old file or the whole new one), and returns their
// paths.
func (r *Report) WriteFiles(dir string) (jsonPath, htmlPath string, err error) {
	var jb, hb bytes.Buffer
	if err := r.WriteJSON(&jb); err != nil {
		return "", "", err
	}
	if err := r.WriteHTML(&hb); err != nil {
		return "", "", err
	}
	jsonPath, htmlPath = filepath.Join(dir, JSONReportName), filepath.Join(dir, HTMLReportName)
	if err := atomicfile.Write(jsonPath, jb.Bytes(), 0o644); err != nil {
		return "", "", fmt.Errorf("write the JSON report: %w", err)
	}
	if err := atomicfile.Write(htmlPath, hb.Bytes(), 0o644); err != nil {
		return "", "", fmt.Errorf("write the HTML report: %w", err)
	}
	return jsonPath, htmlPath, nil
}

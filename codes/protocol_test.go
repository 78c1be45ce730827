package codes

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/PROTOCOL.md's generated code tables from the catalogue")

const protocolDoc = "../docs/PROTOCOL.md"

// The generated part of docs/PROTOCOL.md's "Reason codes" section.
const (
	beginTables = "<!-- BEGIN code tables: generated from codes/catalogue.go by `go test ./codes -run TestProtocolDoc -update`; do not edit -->"
	endTables   = "<!-- END code tables -->"
)

// areaTitles are the headings of the generated tables.
var areaTitles = map[Area]string{
	AreaFrame:        "Frame decoding and signature (package `frame`)",
	AreaAdmission:    "Frame admission (the gateway's stateful checks)",
	AreaSession:      "Vehicle session",
	AreaCommandAck:   "Command answers (a vehicle's `command_ack` reasons)",
	AreaBatch:        "Batch path",
	AreaHTTP:         "Any HTTP route",
	AreaTLS:          "TLS handshakes, connection admission and live revocation",
	AreaAccess:       "TMS access (token endpoint, access tokens, roles, carrier scope, front door)",
	AreaTMSAPI:       "TMS command API (tenders, Idempotency-Key, route revisions)",
	AreaWebhook:      "Webhooks (pushes to TMS clients)",
	AreaTracking:     "Tracking (stop events, shipment status)",
	AreaCommand:      "Commands (risk policy, approvals, state, delivery)",
	AreaEnrollment:   "Enrollment and renewal",
	AreaPKI:          "Fleet CA and operator actions",
	AreaRegistry:     "Vehicle registry",
	AreaLiveness:     "Liveness",
	AreaPlausibility: "Plausibility findings",
	AreaAudit:        "Audit log",
	AreaSystem:       "The gateway process",
	AreaForensics:    "Forensic bundles",
	AreaDetection:    "Detection (the rule engine, docs/DETECTION.md)",
	AreaIncident:     "Incidents (docs/INCIDENTS.md)",
	AreaSIEM:         "SIEM sinks",
}

// renderTables is the generated part of the doc: one table per area.
func renderTables() string {
	var b strings.Builder
	b.WriteString(beginTables + "\n")
	dash := func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	}
	for _, a := range Areas {
		if areaTitles[a] == "" {
			panic("codes: area " + string(a) + " has no title in areaTitles")
		}
		fmt.Fprintf(&b, "\n### %s\n\n| code | HTTP | severity | client | meaning |\n|---|---|---|---|---|\n", areaTitles[a])
		for _, e := range All() {
			if e.Area != a {
				continue
			}
			status, sev := "", ""
			if e.Status != 0 {
				status = strconv.Itoa(e.Status)
			}
			if e.Severity != SeverityNone {
				sev = e.Severity.String()
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", e.Code, dash(status), dash(sev), dash(string(e.Kind)), e.Meaning)
		}
	}
	b.WriteString("\n" + endTables)
	return b.String()
}

// TestProtocolDocMatchesCatalogue: docs/PROTOCOL.md lists every code of
// the catalogue with its HTTP status, severity, kind and meaning (its
// generated tables are exactly the catalogue), and every code the rest of
// the document names in a table, or with a status in prose ("`kid_conflict`
// (409" or "`429 rate_limited`"), is a catalogue code with that status.
func TestProtocolDocMatchesCatalogue(t *testing.T) {
	raw, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, beginTables), strings.Index(doc, endTables)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated code tables (markers %q ... %q)", protocolDoc, beginTables, endTables)
	}
	want := renderTables()
	if got := doc[i : j+len(endTables)]; got != want {
		if *update {
			doc = doc[:i] + want + doc[j+len(endTables):]
			if err := os.WriteFile(protocolDoc, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s", protocolDoc)
		} else {
			t.Errorf("%s's code tables differ from the catalogue; run go test ./codes -run TestProtocolDoc -update", protocolDoc)
		}
	}
	// The rest of the document: tables with a code column.
	rest := doc[:i] + doc[j+len(endTables):]
	checked := 0
	for _, tb := range tables(rest) {
		codeCol, statusCol := -1, -1
		for c, h := range tb.header {
			switch h {
			case "code", "reason":
				codeCol = c
			case "status":
				statusCol = c
			}
		}
		if codeCol < 0 {
			continue
		}
		httpStatus := tb.header[codeCol] == "code" // a "reason" table's status is a WebSocket close status
		for _, row := range tb.rows {
			if codeCol >= len(row) {
				t.Errorf("line %d: row too short", tb.line)
				continue
			}
			for _, c := range backticked(row[codeCol]) {
				checked++
				e, ok := Lookup(c)
				if !ok {
					t.Errorf("line %d: %s names code %q, which is not in the catalogue", tb.line, protocolDoc, c)
					continue
				}
				if httpStatus && statusCol >= 0 && row[statusCol] != strconv.Itoa(e.Status) {
					t.Errorf("line %d: %s gives %q status %s, the catalogue %d", tb.line, protocolDoc, c, row[statusCol], e.Status)
				}
			}
		}
	}
	for _, m := range regexp.MustCompile("`([a-z][a-z0-9_]+)` \\((\\d{3})\\b|`(\\d{3}) ([a-z][a-z0-9_]+)`").FindAllStringSubmatch(rest, -1) {
		code, status := m[1], m[2]
		if code == "" {
			code, status = m[4], m[3]
		}
		checked++
		if e, ok := Lookup(code); !ok {
			t.Errorf("%s names code %q with status %s; it is not in the catalogue", protocolDoc, code, status)
		} else if strconv.Itoa(e.Status) != status {
			t.Errorf("%s gives %q status %s, the catalogue %d", protocolDoc, code, status, e.Status)
		}
	}
	if checked < 40 {
		t.Errorf("only %d codes checked outside the generated tables: the parser is broken", checked)
	}
}

type table struct {
	line   int // of the header
	header []string
	rows   [][]string
}

// tables returns the Markdown tables of doc (indented ones included).
func tables(doc string) []table {
	var out []table
	var cur *table
	for n, l := range strings.Split(doc, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			out = append(out, table{line: n + 1, header: cells})
			cur = &out[len(out)-1]
		case strings.Trim(l, "|-: ") == "":
			// the delimiter row
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return out
}

// backticked returns the `code spans` of a table cell.
func backticked(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

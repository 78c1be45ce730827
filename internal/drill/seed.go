package drill

import (
	"strings"

	"github.com/fifthwheel/fifthwheel/codes"
)

// SeedItem is one item of the seed's developer checklist, its testing
// and validation list or its re-route decision flow
// (shared/reference/threat-model-article.txt), which a drill may name as
// its Checklist. A drill evidences exactly the item it names.
type SeedItem struct {
	Section string
	Text    string
}

// The seed's sections, as the report heads them.
const (
	sectionChecklist = "Developer checklist"
	sectionTesting   = "Testing and validation"
	sectionReroute   = "Decision flow: accepting a re-route"
	sectionOther     = "Named by a drill, not in the seed's lists"
)

// SeedChecklist is every item, in the seed's order; those the catalogue's
// drills name are the catalogue's own constants, so that they match. An
// item no drill names is listed in the report as not covered.
func SeedChecklist() []SeedItem {
	return []SeedItem{
		{sectionChecklist, checkMTLS},
		{sectionChecklist, checkTokens},
		{sectionChecklist, checkSignTelemetry},
		{sectionChecklist, checkHeartbeat},
		{sectionChecklist, "Encrypt telemetry at rest in fleet buckets with HSM/KMS-managed keys."},
		{sectionChecklist, "Automate OTA image signing and require secure boot."},
		{sectionChecklist, checkSIEM},
		// The seed's first testing item is "Automated fuzzing of TMS APIs
		// and negative tests for token/cert binding.": two items here,
		// since the drills evidence only the second.
		{sectionTesting, "Automated fuzzing of TMS APIs."},
		{sectionTesting, testTokenBinding},
		{sectionTesting, testReplay},
		{sectionTesting, "Failure mode drills (network blackouts, token compromise) and tabletop incident response exercises with customers and regulators."},
		{sectionTesting, "Red-team engagements that include physical access scenarios where allowed."},
		{sectionReroute, checkApproval},
	}
}

// SeedSLA is one figure of the seed's SLA recommendations ("Operational
// metrics and SLAs you should publish" and the safe-state SLA targets),
// with the figure the gateway holds itself to and how the report finds
// its measurements: timings (of drills, or of the fleet) whose name
// contains Measured. Empty Measured: nothing in a drill run measures it.
type SeedSLA struct {
	Seed     string
	Gateway  string
	Measured string
}

// SeedSLAs is the seed's SLA list, in its order.
func SeedSLAs() []SeedSLA {
	return []SeedSLA{
		{"API availability: 99.95% for command/telemetry endpoints.", "not measured by a drill (an operational figure over months)", ""},
		{"Comm-loss detection: within 3s for urban routes, 10s for highway scenarios.",
			"comm_lost within heartbeat interval × misses + 200 ms of the last heartbeat (3.2 s by default)", codes.CommLost},
		{"Safe-state execution: maximum 15s from confirmed loss to secure stop for highway; certify timing in test reports.",
			"safe_state within 15 s of the last answered heartbeat, from cruise speed", "safe_state"},
		{"Incident notification: safety-critical: immediate internal alert + customer notification within 1 hour.",
			"an incident (the internal alert) within 1 s of a replayed frame, its clocks due at 15 min internal, 1 h customer, 24 h regulator early warning and 72 h regulator", "incident opened after"},
		{"Forensic snapshot availability: 24/7 access to last-N signed telemetry windows for at least 90 days post-incident.",
			"raw telemetry kept 90 days: not measured by a drill", ""},
	}
}

// measures reports whether a timing named name measures s.
func (s SeedSLA) measures(name string) bool {
	return s.Measured != "" && strings.Contains(name, s.Measured)
}

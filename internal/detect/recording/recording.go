// Package recording is the format of a recorded fleet run's security
// events (internal/detect/testdata/normal-fleet.jsonl): written by
// cmd/fifthwheel's TestRecordNormalFleet from a real `sim fleet` run, read
// by package detect's TestRecordedFleetHourOpensNothing. One definition,
// so writer and reader cannot drift.
//
// JSON lines: the first is a Header (how it was made, how many events,
// the fleet's vehicle ids); each other line is one Event: what the rules
// read of it (detect.Input), its time as milliseconds since the first
// event, and of its attributes only those the engine or a shipped rule
// reads. No frames, keys or certificates.
package recording

// Header is the recording's first line.
type Header struct {
	Fixture    string   `json:"fixture"`
	Regenerate string   `json:"regenerate"`
	Run        []string `json:"run"`
	Recorded   string   `json:"recorded"`
	Events     int      `json:"events"`
	Vehicles   []string `json:"vehicles"`
	// Excluded counts the events left out by class (detection, incident:
	// the rules never see them).
	Excluded map[string]int `json:"excluded,omitempty"`
}

// Event is one recorded event.
type Event struct {
	MS       int64          `json:"ms"`
	Class    string         `json:"class"`
	Code     string         `json:"code"`
	Verdict  string         `json:"verdict"`
	Subject  string         `json:"subject,omitempty"`
	Actor    string         `json:"actor,omitempty"`
	Resource string         `json:"resource,omitempty"`
	Source   string         `json:"source,omitempty"`
	Attrs    map[string]any `json:"attrs,omitempty"`
}

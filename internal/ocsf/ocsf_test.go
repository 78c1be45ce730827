package ocsf_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// lookup returns the member at a dotted path of a decoded OCSF event.
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// checkRequired decodes the JSON of an OCSF event and checks the class's
// required attributes and the common ones.
func checkRequired(t *testing.T, name string, ev event.Event, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	uid := int(m["class_uid"].(float64))
	var class ocsf.Class
	for _, c := range ocsf.Classes {
		if c.UID == uid {
			class = c
		}
	}
	if class.UID == 0 {
		t.Fatalf("%s: class_uid %d is not one of the classes used", name, uid)
	}
	for _, r := range class.Required {
		v, ok := lookup(m, r)
		if !ok || v == nil || v == "" {
			t.Errorf("%s (%s %d): required %q missing", name, class.Name, class.UID, r)
		}
	}
	act := int(m["activity_id"].(float64))
	if got := int(m["type_uid"].(float64)); got != uid*100+act {
		t.Errorf("%s: type_uid %d, want %d", name, got, uid*100+act)
	}
	if got := int(m["category_uid"].(float64)); got != class.CategoryUID {
		t.Errorf("%s: category_uid %d, want %d", name, got, class.CategoryUID)
	}
	if v, _ := lookup(m, "metadata.uid"); v != ev.ID {
		t.Errorf("%s: metadata.uid %v, want the event id %s", name, v, ev.ID)
	}
	if v, _ := lookup(m, "metadata.version"); v != ocsf.Version {
		t.Errorf("%s: metadata.version %v", name, v)
	}
	for _, p := range []string{"metadata.product.name", "metadata.product.vendor_name", "metadata.product.version"} {
		if v, ok := lookup(m, p); !ok || v == "" {
			t.Errorf("%s: %s missing", name, p)
		}
	}
	if got := int64(m["time"].(float64)); got != ev.Time.UnixMilli() {
		t.Errorf("%s: time %d, want %d ms", name, got, ev.Time.UnixMilli())
	}
	if got := int(m["severity_id"].(float64)); got != int(ev.Severity) {
		t.Errorf("%s: severity_id %d, want %d", name, got, ev.Severity)
	}
	if ev.Source != "" {
		if _, ok := lookup(m, "src_endpoint.ip"); !ok {
			t.Errorf("%s: an event with a Source has no src_endpoint.ip", name)
		}
	}
	if !ev.Actor.IsZero() {
		if v, _ := lookup(m, "actor.user.uid"); v != ev.Actor.String() {
			t.Errorf("%s: actor.user.uid %v, want %s", name, v, ev.Actor)
		}
	}
	if v, _ := lookup(m, "unmapped.event.code"); v != ev.Code {
		t.Errorf("%s: unmapped.event.code %v", name, v)
	}
	if v, _ := lookup(m, "unmapped.event.id"); v != ev.ID {
		t.Errorf("%s: unmapped.event.id %v", name, v)
	}
	if _, ok := m["status_id"]; !ok {
		t.Errorf("%s: no status_id (every class used has one)", name)
	}
	return m
}

func example(code string, class event.Class, i int) event.Event {
	sev := codes.SeverityOf(code, codes.SeverityInfo)
	ev := event.Event{ID: event.NewID(), Time: time.Date(2026, 12, 5, 21, 0, 0, int(time.Millisecond)*i, time.UTC),
		Class: class, Activity: "x", Severity: sev, Verdict: event.Reject, Code: code,
		Attrs: map[string]any{"n": i}}
	switch i % 3 {
	case 0:
		ev.Actor = principal.Principal{Kind: principal.Vehicle, ID: "truck-7"}
	case 1:
		ev.Source = "203.0.113.9"
	case 2:
		ev.Source = "2001:db8:1:2::/64"
		ev.Verdict = event.Info
	}
	return ev
}

// TestEveryCatalogueCodeMapsToAClass fails when a code lands in an area
// without an OCSF class, and checks each code's mapped example against its
// class's required attributes.
func TestEveryCatalogueCodeMapsToAClass(t *testing.T) {
	for i, e := range codes.All() {
		c, ok := ocsf.ClassOf(e.Code, "")
		if !ok {
			t.Errorf("code %s (area %s) maps to no OCSF class: add the area to classByArea", e.Code, e.Area)
			continue
		}
		ev := example(e.Code, "api", i)
		row, err := event.Row(ev)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ocsf.Marshal(row, ocsf.DefaultProduct)
		if err != nil {
			t.Fatal(err)
		}
		m := checkRequired(t, e.Code, ev, b)
		if int(m["class_uid"].(float64)) != c.UID {
			t.Errorf("%s: class %v, ClassOf says %d", e.Code, m["class_uid"], c.UID)
		}
	}
}

// TestClassesOfTheIssue pins the classes the issue names.
func TestClassesOfTheIssue(t *testing.T) {
	for _, tc := range []struct {
		code  string
		class string
		want  int
	}{
		{codes.TLSCertRevoked, "authentication", 3002},
		{codes.AccessTokenBindingMismatch, "authentication", 3002},
		{codes.RateLimited, "api", 6003},
		{codes.CommandCreated, "command", 6003},
		{codes.Replay, "telemetry", 2004},
		{codes.CommLost, "liveness", 2004},
		{codes.SpeedDisagreement, "telemetry", 2004},
		{codes.GatewayStarted, "system", 6002},
		// Codes of the detection and incident branches, not catalogued
		// here yet: the event class decides.
		{"detection_finding", "detection", 2004},
		{"incident_opened", "incident", 2005},
		{"incident_resolved", "incident", 2005},
	} {
		c, _ := ocsf.ClassOf(tc.code, tc.class)
		if c.UID != tc.want {
			t.Errorf("%s: class %d, want %d", tc.code, c.UID, tc.want)
		}
	}
}

// TestFindingsAndIncidents maps a detection finding and the incident
// lifecycle events as D1 and D2 record them.
func TestFindingsAndIncidents(t *testing.T) {
	now := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC)
	finding := event.Event{ID: event.NewID(), Time: now, Class: "detection", Activity: "finding", Severity: codes.SeverityHigh,
		Actor: principal.Principal{Kind: principal.System, ID: "detect"}, Resource: "urn:fifthwheel:vehicle:t1", Verdict: event.Info,
		Code: "detection_finding", Attrs: map[string]any{"rule": "replay-any", "finding": "f-123", "title": "Any replay",
			"event_ids": []string{"a", "b"}, "subject": "t1", "count": 2}}
	row, _ := event.Row(finding)
	b, _ := ocsf.Marshal(row, ocsf.DefaultProduct)
	m := checkRequired(t, "detection_finding", finding, b)
	if v, _ := lookup(m, "finding_info.uid"); v != "f-123" {
		t.Errorf("finding_info.uid %v, want the finding id", v)
	}
	if v, _ := lookup(m, "finding_info.analytic.name"); v != "replay-any" {
		t.Errorf("analytic %v", v)
	}
	if rel, _ := lookup(m, "finding_info.related_events"); len(rel.([]any)) != 2 {
		t.Errorf("related_events %v", rel)
	}
	for code, want := range map[string][2]int{"incident_opened": {1, 1}, "incident_acknowledged": {2, 2}, "incident_resolved": {3, 4}} {
		inc := event.Event{ID: event.NewID(), Time: now, Class: "incident", Activity: "incident", Severity: codes.SeverityHigh,
			Actor: principal.Principal{Kind: principal.Operator, ID: "alice"}, Verdict: event.Info, Code: code,
			Attrs: map[string]any{"incident": "inc-1"}}
		row, _ := event.Row(inc)
		b, _ := ocsf.Marshal(row, ocsf.DefaultProduct)
		m := checkRequired(t, code, inc, b)
		if int(m["activity_id"].(float64)) != want[0] || int(m["status_id"].(float64)) != want[1] {
			t.Errorf("%s: activity %v status %v, want %v", code, m["activity_id"], m["status_id"], want)
		}
		if m["src_url"] != "fifthwheel:incident:inc-1" {
			t.Errorf("%s: src_url %v, want the incident", code, m["src_url"])
		}
	}
	// The incident manager names the incident as the event's resource,
	// not as an attribute (incident_opened): src_url still names it.
	opened := event.Event{ID: event.NewID(), Time: now, Class: "incident", Activity: "incident_open", Severity: codes.SeverityHigh,
		Actor: principal.Principal{Kind: principal.System, ID: "incident"}, Resource: "incident:inc-2", Verdict: event.Info,
		Code: "incident_opened", Attrs: map[string]any{"rule": "frame-replay", "subject": "t1"}}
	row, _ = event.Row(opened)
	if m := checkRequired(t, "incident_opened", opened, ocsfJSON(t, row)); m["src_url"] != "fifthwheel:incident:inc-2" {
		t.Errorf("incident_opened with the incident as resource: src_url %v", m["src_url"])
	}
}

// TestUndecodableBodyStillMaps: one bad row must not stall a sink.
func TestUndecodableBodyStillMaps(t *testing.T) {
	ev := example(codes.Replay, "telemetry", 0)
	row, _ := event.Row(ev)
	row.Body = []byte("{not json")
	var m map[string]any
	if err := json.Unmarshal(ocsfJSON(t, row), &m); err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(m, "metadata.uid"); v != ev.ID {
		t.Errorf("metadata.uid %v", v)
	}
	if _, ok := lookup(m, "unmapped.body_error"); !ok {
		t.Error("no unmapped.body_error")
	}
}

func ocsfJSON(t *testing.T, row store.EventRow) []byte {
	t.Helper()
	b, err := json.Marshal(ocsf.Map(row, ocsf.DefaultProduct))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzMapNeverFails: whatever a stored body holds, the mapping returns an
// event that encodes, with the row's id as metadata.uid.
func FuzzMapNeverFails(f *testing.F) {
	ev := example(codes.Replay, "telemetry", 1)
	row, _ := event.Row(ev)
	f.Add(row.Body, "replay", "telemetry")
	f.Add([]byte(`{"severity":-7,"attrs":{"event_ids":[1,"a",null],"finding":3},"actor":"urn:fifthwheel:"}`), "detection_finding", "detection")
	f.Add([]byte(`null`), "", "")
	f.Fuzz(func(t *testing.T, body []byte, code, class string) {
		r := store.EventRow{ID: "id-1", Time: time.Unix(1, 0), Class: class, Code: code, Verdict: "reject", Body: body}
		b, err := ocsf.Marshal(r, ocsf.DefaultProduct)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if v, _ := lookup(m, "metadata.uid"); v != "id-1" {
			t.Fatalf("metadata.uid %v", v)
		}
	})
}

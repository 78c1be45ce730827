package ocsf

import (
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Product names the software that recorded the events (metadata.product).
type Product struct {
	Name       string // "fifthwheel"
	VendorName string // "fifthwheel"
	Version    string // the binary's version
}

// DefaultProduct is fifthwheel with an unknown version.
var DefaultProduct = Product{Name: "fifthwheel", VendorName: "fifthwheel", Version: "unknown"}

// stored is an event as the event bus encodes it (package event's Event).
type stored struct {
	ID            string         `json:"id"`
	Time          time.Time      `json:"time"`
	Class         string         `json:"class"`
	Activity      string         `json:"activity"`
	Severity      int            `json:"severity"`
	Actor         string         `json:"actor"`
	Resource      string         `json:"resource"`
	Verdict       string         `json:"verdict"`
	Code          string         `json:"code"`
	CorrelationID string         `json:"correlation_id"`
	Source        string         `json:"source"`
	Attrs         map[string]any `json:"attrs"`
}

// Event is one OCSF event, ready for json.Marshal.
type Event map[string]any

// Map returns row as an OCSF event. It never fails (package doc).
func Map(row store.EventRow, p Product) Event {
	var ev stored
	bodyErr := ""
	if err := json.Unmarshal(row.Body, &ev); err != nil {
		bodyErr = "the stored body does not decode: " + err.Error()
		ev = stored{}
	}
	// The row's columns are authoritative for what the store indexes.
	ev.ID, ev.Class, ev.Code, ev.Verdict = row.ID, row.Class, row.Code, row.Verdict
	if ev.Time.IsZero() {
		ev.Time = row.Time
	}
	c, _ := ClassOf(ev.Code, ev.Class)
	activity := activityOf(c, ev)
	sev := ev.Severity
	if sev < 0 || sev > 6 {
		sev = 99 // OCSF: Other
	}
	o := Event{
		"class_uid":     c.UID,
		"class_name":    c.Name,
		"category_uid":  c.CategoryUID,
		"category_name": c.CategoryName,
		"activity_id":   activity,
		"activity_name": ev.Activity,
		"type_uid":      c.UID*100 + activity,
		"severity_id":   sev,
		"severity":      codes.Severity(sev).String(),
		"time":          ev.Time.UnixMilli(),
		"message":       message(ev),
		"metadata":      metadata(ev, p),
	}
	// unmapped.event is the event exactly as the store holds it (the
	// bytes the audit log covers): nothing recorded is lost, and a SIEM can
	// check it against the log. A body that does not decode is not
	// embedded (it would break the line): the row's columns stand in.
	unmapped := map[string]any{}
	if bodyErr == "" {
		unmapped["event"] = json.RawMessage(row.Body)
	} else {
		unmapped["class"], unmapped["code"], unmapped["verdict"], unmapped["body_error"] = ev.Class, ev.Code, ev.Verdict, bodyErr
	}
	o["unmapped"] = unmapped
	if ep := srcEndpoint(ev.Source); ep != nil {
		o["src_endpoint"] = ep
	}
	user := userOf(ev.Actor)
	if user != nil {
		o["actor"] = map[string]any{"user": user}
	}

	switch c.UID {
	case Authentication.UID:
		o["status_id"] = statusOf(ev.Verdict)
		o["service"] = map[string]any{"name": p.Name}
		// The subject authenticating: the principal if the event has one,
		// else the peer as far as it is known (its source), else unknown.
		switch {
		case user != nil:
			o["user"] = user
		case ev.Resource != "":
			o["user"] = map[string]any{"name": ev.Resource, "type_id": 0, "type": "Unknown"}
		case ev.Source != "":
			o["user"] = map[string]any{"name": "unauthenticated peer at " + ev.Source, "type_id": 0, "type": "Unknown"}
		default:
			o["user"] = map[string]any{"name": "unknown", "type_id": 0, "type": "Unknown"}
		}
	case APIActivity.UID:
		o["status_id"] = statusOf(ev.Verdict)
		if user == nil {
			// The gateway acted on its own (a background job) or the
			// actor was not proven: the actor is the application.
			o["actor"] = map[string]any{"app_name": p.Name}
		}
		api := map[string]any{"operation": nonEmpty(ev.Activity, ev.Code), "service": map[string]any{"name": p.Name}}
		o["api"] = api
		if _, ok := o["src_endpoint"]; !ok {
			// No unauthenticated source: the request came from a proven
			// principal or from the gateway itself; its address is not
			// part of the event, so the endpoint is named, not addressed.
			o["src_endpoint"] = map[string]any{"name": nonEmpty(ev.Actor, p.Name)}
		}
		if ev.Resource != "" {
			o["resources"] = []any{map[string]any{"name": ev.Resource}}
		}
	case DetectionFinding.UID:
		o["status_id"] = 1 // New
		o["status"] = "New"
		o["is_alert"] = ev.Verdict == "reject" || sev >= int(codes.SeverityMedium)
		o["finding_info"] = findingInfo(ev)
		if ev.Resource != "" {
			o["resources"] = []any{map[string]any{"name": ev.Resource}}
		}
	case IncidentFinding.UID:
		st := incidentStatus(ev.Code)
		o["status_id"] = st
		o["status"] = incidentStatusNames[st]
		fi := findingInfo(ev)
		o["finding_info_list"] = []any{fi}
		o["assignee_group"] = map[string]any{"name": "security-admin"}
		// The incident events name their incident as their resource
		// ("incident:ID"); others may carry it as an attribute.
		id := attrString(ev.Attrs, "incident", "incident_id")
		if r, ok := strings.CutPrefix(ev.Resource, "incident:"); id == "" && ok {
			id = r
		}
		if id != "" {
			o["src_url"] = "fifthwheel:incident:" + id
		}
	case ApplicationLifecycle.UID:
		o["status_id"] = statusOf(ev.Verdict)
		o["app"] = map[string]any{"name": p.Name, "vendor_name": p.VendorName, "version": p.Version}
	}
	return o
}

// metadata is the event's metadata object.
func metadata(ev stored, p Product) map[string]any {
	m := map[string]any{
		"version": Version,
		"uid":     ev.ID,
		"product": map[string]any{"name": p.Name, "vendor_name": p.VendorName, "version": p.Version},
	}
	if ev.CorrelationID != "" {
		m["correlation_uid"] = ev.CorrelationID
	}
	return m
}

// message is the code's meaning from the catalogue, or the code.
func message(ev stored) string {
	if e, ok := codes.Lookup(ev.Code); ok && e.Meaning != "" {
		return e.Meaning
	}
	return ev.Code
}

// findingInfo is a finding_info object. A detection_finding event's attrs
// (rule, finding id, title, event ids) fill it when present; otherwise the
// gateway check that decided is the analytic and the event the finding.
func findingInfo(ev stored) map[string]any {
	fi := map[string]any{
		"uid":   ev.ID,
		"title": nonEmpty(attrString(ev.Attrs, "title", "description"), ev.Code),
		"desc":  message(ev),
		"analytic": map[string]any{
			"name":    nonEmpty(attrString(ev.Attrs, "rule", "rule_id"), ev.Code),
			"type_id": 1, // Rule
			"type":    "Rule",
		},
		"created_time": ev.Time.UnixMilli(),
	}
	if id := attrString(ev.Attrs, "finding", "finding_id"); id != "" {
		fi["uid"] = id
	}
	if ids, ok := ev.Attrs["event_ids"].([]any); ok && len(ids) > 0 {
		fi["related_events"] = relatedEvents(ids)
	}
	return fi
}

func relatedEvents(ids []any) []any {
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		if s, ok := id.(string); ok {
			out = append(out, map[string]any{"uid": s})
		}
	}
	return out
}

// incidentStatusNames are Incident Finding's status_id captions.
var incidentStatusNames = map[int]string{1: "New", 2: "In Progress", 4: "Resolved"}

// incidentStatus is Incident Finding's status_id for an incident event.
func incidentStatus(code string) int {
	switch {
	case strings.HasSuffix(code, "_opened"):
		return 1
	case strings.HasSuffix(code, "_resolved"):
		return 4
	default:
		return 2
	}
}

// activityOf is the event's activity_id in class c.
func activityOf(c Class, ev stored) int {
	a := ev.Activity
	switch c.UID {
	case Authentication.UID:
		if strings.Contains(a, "close") || strings.HasSuffix(ev.Code, "_closed") || strings.HasPrefix(ev.Code, codes.SessionClosed) {
			return 2 // Logoff
		}
		return 1 // Logon: a handshake, a token, an enrollment: an attempt to authenticate
	case APIActivity.UID:
		switch {
		case hasAny(a, "_add", "create", "issue", "register", "init", "enroll", "tender"):
			return 1 // Create
		case hasAny(a, "export", "read", "list", "get"):
			return 2 // Read
		case hasAny(a, "retire", "clear", "revoke", "delete", "remove"):
			return 4 // Delete
		case hasAny(a, "_set", "advance", "rotate", "update", "approve", "cancel", "deliver"):
			return 3 // Update
		}
		return 99 // Other: activity_name says what
	case DetectionFinding.UID:
		return 1 // Create: each event is a new finding
	case IncidentFinding.UID:
		switch incidentStatus(ev.Code) {
		case 1:
			return 1 // Create
		case 4:
			return 3 // Close
		}
		return 2 // Update
	case ApplicationLifecycle.UID:
		switch ev.Code {
		case codes.GatewayStarted:
			return 3 // Start
		case codes.GatewayStopped:
			return 4 // Stop
		}
		return 99
	}
	return 99
}

// statusOf is the activity classes' status_id: 1 Success, 2 Failure.
func statusOf(verdict string) int {
	if verdict == "reject" {
		return 2
	}
	return 1
}

// srcEndpoint is the src_endpoint of an event about an unauthenticated
// peer: its Source, an IPv4 address or an IPv6 /64 (package event).
func srcEndpoint(source string) map[string]any {
	if source == "" {
		return nil
	}
	if a, err := netip.ParseAddr(source); err == nil {
		return map[string]any{"ip": a.String()}
	}
	if pfx, err := netip.ParsePrefix(source); err == nil {
		return map[string]any{"ip": pfx.Addr().String(), "subnet_uid": pfx.String()}
	}
	return map[string]any{"name": source}
}

// userOf is the OCSF user of a principal URI (urn:fifthwheel:<kind>:<id>),
// or nil for none.
func userOf(actor string) map[string]any {
	rest, ok := strings.CutPrefix(actor, "urn:fifthwheel:")
	if !ok {
		return nil
	}
	kind, id, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return nil
	}
	u := map[string]any{"uid": actor, "name": id, "type": kind}
	switch kind {
	case "operator", "client":
		u["type_id"] = 1 // User
	case "system", "gateway":
		u["type_id"] = 3 // System
	default:
		u["type_id"] = 99 // Other: a vehicle
	}
	return u
}

// attrString is the first of keys that is a non-empty string attribute
// (the detection and incident events' attribute names, as their packages
// spell them).
func attrString(attrs map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, _ := attrs[k].(string); s != "" {
			return s
		}
	}
	return ""
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hasAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// Marshal returns row as one OCSF JSON document (no newline).
func Marshal(row store.EventRow, p Product) ([]byte, error) {
	return json.Marshal(Map(row, p))
}

package ocsf

import "github.com/fifthwheel/fifthwheel/codes"

// Version is the OCSF schema version of every mapped event.
const Version = "1.3.0"

// Class is an OCSF event class this package maps to.
type Class struct {
	UID          int
	Name         string
	CategoryUID  int
	CategoryName string
	// Required lists the attributes OCSF 1.3.0 requires of the class: the
	// base event's (activity_id, category_uid, class_uid, metadata,
	// severity_id, time, type_uid) and the class's own. Nested required
	// members are written "object.member".
	Required []string
}

// baseRequired are the base event's required attributes in OCSF 1.3.0,
// with metadata's own required members (metadata.product, metadata.version).
var baseRequired = []string{"activity_id", "category_uid", "class_uid", "metadata", "metadata.product",
	"metadata.version", "severity_id", "time", "type_uid"}

func required(own ...string) []string { return append(append([]string(nil), baseRequired...), own...) }

// The classes used (schema.ocsf.io/1.3.0/classes/...).
var (
	// Authentication: "user" required; at least one of "service" and
	// "dst_endpoint" (we always set service).
	Authentication = Class{UID: 3002, Name: "Authentication", CategoryUID: 3, CategoryName: "Identity & Access Management",
		Required: required("user", "service", "service.name")}
	// API Activity: actor, api (with api.operation) and src_endpoint.
	APIActivity = Class{UID: 6003, Name: "API Activity", CategoryUID: 6, CategoryName: "Application Activity",
		Required: required("actor", "api", "api.operation", "src_endpoint")}
	// Detection Finding: finding_info, with its uid and title.
	DetectionFinding = Class{UID: 2004, Name: "Detection Finding", CategoryUID: 2, CategoryName: "Findings",
		Required: required("finding_info", "finding_info.uid", "finding_info.title")}
	// Incident Finding: finding_info_list and status_id; at least one of
	// assignee and assignee_group (we set assignee_group).
	IncidentFinding = Class{UID: 2005, Name: "Incident Finding", CategoryUID: 2, CategoryName: "Findings",
		Required: required("finding_info_list", "status_id", "assignee_group", "assignee_group.name")}
	// Application Lifecycle: app (a product, with its name).
	ApplicationLifecycle = Class{UID: 6002, Name: "Application Lifecycle", CategoryUID: 6, CategoryName: "Application Activity",
		Required: required("app", "app.name")}
)

// Classes lists every class used.
var Classes = []Class{Authentication, APIActivity, DetectionFinding, IncidentFinding, ApplicationLifecycle}

// Areas of codes that land on other branches of issue 22 (detection,
// incidents); spelled here so their codes map the day they arrive.
const (
	areaDetection codes.Area = "detection"
	areaIncident  codes.Area = "incident"
)

// classByArea is the class of each reason code's area. A test fails when a
// catalogued code's area is missing here.
var classByArea = map[codes.Area]Class{
	codes.AreaFrame:        DetectionFinding,
	codes.AreaAdmission:    DetectionFinding,
	codes.AreaPlausibility: DetectionFinding,
	codes.AreaLiveness:     DetectionFinding,
	codes.AreaAudit:        DetectionFinding, // the log not matching its checkpoint is a tamper finding
	areaDetection:          DetectionFinding,
	areaIncident:           IncidentFinding,

	codes.AreaTLS:        Authentication,
	codes.AreaAccess:     Authentication,
	codes.AreaEnrollment: Authentication,
	codes.AreaSession:    Authentication,

	codes.AreaBatch:      APIActivity,
	codes.AreaHTTP:       APIActivity,
	codes.AreaCommand:    APIActivity,
	codes.AreaCommandAck: APIActivity,
	codes.AreaTMSAPI:     APIActivity,
	codes.AreaWebhook:    APIActivity,
	codes.AreaTracking:   APIActivity,
	codes.AreaPKI:        APIActivity,
	codes.AreaRegistry:   APIActivity,
	codes.AreaForensics:  APIActivity,
	codes.AreaSIEM:       APIActivity,

	codes.AreaSystem: ApplicationLifecycle,
}

// classByEventClass is the fallback for a code the catalogue does not know
// (an event recorded by a newer replica, say): the event's own class.
var classByEventClass = map[string]Class{
	"authentication": Authentication,
	"authorization":  APIActivity,
	"pki":            APIActivity,
	"telemetry":      DetectionFinding,
	"liveness":       DetectionFinding,
	"command":        APIActivity,
	"api":            APIActivity,
	"system":         ApplicationLifecycle,
	"detection":      DetectionFinding,
	"incident":       IncidentFinding,
}

// ClassOf returns the OCSF class of an event with code and event class
// eventClass. ok is false when neither is known (the event is then mapped
// as API Activity, the most general class whose requirements we fill).
func ClassOf(code, eventClass string) (c Class, ok bool) {
	if e, found := codes.Lookup(code); found {
		if c, ok := classByArea[e.Area]; ok {
			return c, true
		}
	}
	if c, ok := classByEventClass[eventClass]; ok {
		return c, true
	}
	return APIActivity, false
}

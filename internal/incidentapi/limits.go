package incidentapi

const (
	// MaxBodyBytes bounds a POST body: the longest is a note or a
	// reason of incident.MaxTextBytes, JSON-escaped (up to 6 bytes a
	// byte), with room for the members.
	MaxBodyBytes = 32 << 10
	// MaxQueryBytes bounds a raw query string.
	MaxQueryBytes = 1024
	// MaxListPage bounds a list page; DefaultListPage is the page size
	// without limit.
	MaxListPage     = 1000
	DefaultListPage = 100
)

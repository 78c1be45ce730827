package auditapi

const (
	// MaxQueryBytes bounds a request's raw query string: a kind, a
	// reference of at most audit.MaxRefLen bytes and a size fit in far less.
	MaxQueryBytes = 2048
)

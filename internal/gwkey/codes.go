package gwkey

// Event codes of changes to the key set. The command that makes a change
// records it (class pki), with the kid in its attributes.
const (
	// CodeKeyAdded: Rotate published a next key.
	CodeKeyAdded = "gateway_key_added"
	// CodeKeyPromoted: Promote made the next key current.
	CodeKeyPromoted = "gateway_key_promoted"
	// CodeKeyDropped: Drop removed a key from the set.
	CodeKeyDropped = "gateway_key_dropped"
)

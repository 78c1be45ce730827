package frame

// Alg names a frame signature algorithm, as carried in the envelope's alg
// member. Only the three constants below exist; every other value, "none"
// included, is refused with CodeAlgNotAllowed.
type Alg string

const (
	// AlgEd25519 is Ed25519 (RFC 8032) verified under ZIP-215 rules with
	// canonical A and R required. What vehicles are enrolled with by default.
	AlgEd25519 Alg = "Ed25519"
	// AlgES256 is ECDSA on P-256 with SHA-256, signature as IEEE P1363 r||s
	// (exactly 64 bytes), as in RFC 7518 §3.4.
	AlgES256 Alg = "ES256"
	// AlgHS256 is HMAC-SHA256 with a per-vehicle shared secret. Lower
	// assurance: the gateway holds the same secret, so a frame is not proof
	// that the vehicle made it. Events mark it (see LowerAssurance).
	AlgHS256 Alg = "HS256"
)

// Valid reports whether a is one of the allowed algorithms.
func (a Alg) Valid() bool {
	switch a {
	case AlgEd25519, AlgES256, AlgHS256:
		return true
	}
	return false
}

// LowerAssurance reports whether a is a shared-secret algorithm, whose
// signatures do not bind the frame to the vehicle alone.
func (a Alg) LowerAssurance() bool { return a == AlgHS256 }

// sigSize is the exact signature length for a.
func (a Alg) sigSize() int {
	switch a {
	case AlgEd25519, AlgES256:
		return 64
	case AlgHS256:
		return 32
	}
	return -1
}

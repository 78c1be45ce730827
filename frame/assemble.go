package frame

// AssembleEnvelope returns the canonical envelope for stored parts: the
// exact frame bytes and signature of an accepted frame, with its alg and
// kid. Forensics uses it to hand out a frame that verifies offline; it does
// not check anything (ParseEnvelope does, on the result).
func AssembleEnvelope(alg Alg, kid string, frameBytes, sig []byte) []byte {
	return appendEnvelope(nil, alg, kid, frameBytes, sig)
}

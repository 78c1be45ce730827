package frame

// Sign validates f, encodes it in canonical form, signs those bytes with s
// and returns the canonical envelope
//
//	{"alg":"<s.Alg()>","frame":{...},"kid":"<kid>","sig":"<base64url>"}
//
// kid names the key as registered at the receiver. Sign returns an *Error
// if f fails StaticValidate or kid is malformed, and a plain error if the
// signer fails.
func Sign(s Signer, kid string, f *Frame) ([]byte, error) {
	if s == nil {
		return nil, newError(CodeBadKey, "", "no signer")
	}
	if f == nil {
		return nil, newError(CodeSchema, "", "no frame")
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	fb, err := f.MarshalCanonical()
	if err != nil {
		return nil, err
	}
	sig, err := s.sign(fb)
	if err != nil {
		return nil, err
	}
	return appendEnvelope(make([]byte, 0, len(fb)+160), s.Alg(), kid, fb, sig), nil
}

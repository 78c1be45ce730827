package frame

import (
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// Envelope is a parsed envelope:
//
//	{"alg":"Ed25519","kid":"<key id>","frame":{...},"sig":"<base64url>"}
//
// An Envelope from ParseEnvelope has passed every check that needs no key:
// strict decoding, an allowed alg, a well-formed kid, a well-encoded sig of
// the right length, and a frame member in canonical form. Its signature is
// not yet verified: call Verify (or use a BatchVerifier) with the key
// registered under KID for the sending vehicle, then DecodeFrame.
type Envelope struct {
	// Alg is the signature algorithm the sender names. It must match the
	// algorithm of the key registered under KID (Verify checks).
	Alg Alg
	// KID names the sender's key.
	KID string
	// Sig is the decoded signature.
	Sig []byte

	frame []byte
}

// Frame returns the frame member's bytes exactly as received: the signature
// input. They are in RFC 8785 canonical form. The caller must not modify
// them.
func (e *Envelope) Frame() []byte { return e.frame }

// Verify checks the envelope's signature with v, the key registered under
// e.KID for the sending vehicle. It returns an *Error with CodeAlgMismatch
// if v is for another algorithm than e.Alg, CodeBadSignature if the
// signature does not verify.
func (e *Envelope) Verify(v Verifier) error {
	if v == nil || v.Alg() != e.Alg {
		return newError(CodeAlgMismatch, "/alg", "the key registered under kid is not for this alg")
	}
	return v.Verify(e.frame, e.Sig)
}

// DecodeFrame decodes the envelope's frame bytes as DecodeFrame does,
// skipping the strict-JSON and canonical-form checks ParseEnvelope has
// already made on them. Decoding before Verify is allowed (nothing is
// trusted until both succeed) but the usual order is verify first.
func (e *Envelope) DecodeFrame() (*Frame, error) {
	return decodeSchema(e.frame)
}

// Encode returns the envelope's canonical bytes: members in RFC 8785 order
// (alg, frame, kid, sig), no whitespace, the frame bytes unchanged.
func (e *Envelope) Encode() []byte {
	return appendEnvelope(nil, e.Alg, e.KID, e.frame, e.Sig)
}

// appendEnvelope appends the canonical envelope for its parts. alg and kid
// are quoted as RFC 8785 strings whatever they hold (invalid UTF-8 becomes
// U+FFFD), so the result is always JSON; ParseEnvelope decides whether it
// is acceptable.
func appendEnvelope(dst []byte, alg Alg, kid string, frame, sig []byte) []byte {
	dst = append(dst, `{"alg":`...)
	dst, _ = jsontext.AppendQuote(dst, string(alg))
	dst = append(dst, `,"frame":`...)
	dst = append(dst, frame...)
	dst = append(dst, `,"kid":`...)
	dst, _ = jsontext.AppendQuote(dst, kid)
	dst = append(dst, `,"sig":"`...)
	dst = base64.RawURLEncoding.AppendEncode(dst, sig)
	return append(dst, `"}`...)
}

// ParseEnvelope parses and checks one envelope. It returns an *Error whose
// Code says why the envelope was refused. Checks run in this order, and the
// first failure is reported:
//
//  1. size: at most MaxEnvelopeSize bytes (CodeTooLarge);
//  2. strict JSON, in byte order: valid UTF-8 and no lone surrogates
//     (CodeInvalidUTF8), one JSON value (CodeBadJSON), no duplicate names
//     (CodeDuplicateMember), depth (CodeTooDeep), finite numbers
//     (CodeNumberOutOfRange);
//  3. shape: an object (CodeSchema) with no member but alg, kid, frame and
//     sig (CodeUnknownMember);
//  4. alg (CodeMissingAlg, CodeSchema, CodeAlgNotAllowed);
//  5. kid (CodeMissingKID, CodeSchema, CodeBadKID);
//  6. frame: present (CodeMissingMember), an object (CodeSchema), at most
//     MaxFrameSize bytes (CodeTooLarge);
//  7. sig: present (CodeMissingMember), a string (CodeSchema), canonical
//     unpadded base64url of the length alg requires (CodeBadSigEncoding);
//  8. the frame bytes are RFC 8785 canonical (CodeNotCanonical).
//
// The envelope itself need not be canonical (member order and whitespace
// are free); only the frame bytes are signed. ParseEnvelope keeps a copy of
// the frame bytes, so b may be reused.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, newError(CodeTooLarge, "", "envelope is larger than "+strconv.Itoa(MaxEnvelopeSize)+" bytes")
	}
	var alg, kid, frame, sig *member
	var members [4]member
	n := 0
	var unknown string
	unknownSeen := false
	top, err := walk(b, MaxEnvelopeDepth, func(m member) {
		var slot **member
		switch m.name {
		case "alg":
			slot = &alg
		case "kid":
			slot = &kid
		case "frame":
			slot = &frame
		case "sig":
			slot = &sig
		default:
			if !unknownSeen {
				unknown, unknownSeen = m.name, true
			}
			return
		}
		members[n] = m
		*slot = &members[n]
		n++
	})
	if err != nil {
		return nil, err
	}
	if top != '{' {
		return nil, newError(CodeSchema, "", "envelope is not a JSON object")
	}
	if unknownSeen {
		return nil, newError(CodeUnknownMember, "", "unknown envelope member "+quoteName(unknown))
	}

	e := new(Envelope)

	// alg: required, no default.
	if alg == nil {
		return nil, newError(CodeMissingAlg, "", "envelope has no alg")
	}
	if alg.kind != '"' {
		return nil, newError(CodeSchema, "/alg", "alg is not a string")
	}
	if a := Alg(unquote(b, alg)); a.Valid() {
		e.Alg = a
	} else {
		return nil, newError(CodeAlgNotAllowed, "/alg", "alg is not Ed25519, ES256 or HS256")
	}

	// kid: required, no default.
	if kid == nil {
		return nil, newError(CodeMissingKID, "", "envelope has no kid")
	}
	if kid.kind != '"' {
		return nil, newError(CodeSchema, "/kid", "kid is not a string")
	}
	e.KID = unquote(b, kid)
	if err := checkKID(e.KID); err != nil {
		return nil, err
	}

	if frame == nil {
		return nil, newError(CodeMissingMember, "/frame", "envelope has no frame")
	}
	if frame.kind != '{' {
		return nil, newError(CodeSchema, "/frame", "frame is not a JSON object")
	}
	fb := b[frame.start:frame.end]
	if len(fb) > MaxFrameSize {
		return nil, newError(CodeTooLarge, "/frame", "frame is larger than "+strconv.Itoa(MaxFrameSize)+" bytes")
	}

	if sig == nil {
		return nil, newError(CodeMissingMember, "/sig", "envelope has no sig")
	}
	if sig.kind != '"' {
		return nil, newError(CodeSchema, "/sig", "sig is not a string")
	}
	e.Sig, err = decodeB64(unquote(b, sig))
	if err != nil || len(e.Sig) != e.Alg.sigSize() {
		return nil, newError(CodeBadSigEncoding, "/sig", "sig is not unpadded base64url of "+strconv.Itoa(e.Alg.sigSize())+" bytes")
	}

	if err := checkCanonical(fb); err != nil {
		err.(*Error).Pointer = "/frame"
		return nil, err
	}
	e.frame = append([]byte(nil), fb...)
	return e, nil
}

// unquote returns the value of the string member m. walk has validated it.
func unquote(b []byte, m *member) string {
	s, err := jsontext.AppendUnquote(nil, b[m.start:m.end])
	if err != nil {
		panic("frame: internal error: walk accepted a string that does not unquote")
	}
	return string(s)
}

var errNotCanonicalB64 = errors.New("base64 is not in canonical form")

// decodeB64 decodes canonical unpadded base64url: the alphabet of RFC 4648
// §5, no padding, zero trailing bits, and none of the line breaks Go's
// decoder would skip (the re-encoding must equal the input).
func decodeB64(s string) ([]byte, error) {
	d, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawURLEncoding.EncodedLen(len(d)) != len(s) {
		return nil, errNotCanonicalB64
	}
	return d, nil
}

// checkKID checks a key id: 1..MaxKIDLen characters of [A-Za-z0-9._:-].
func checkKID(kid string) error {
	if kid == "" {
		return newError(CodeMissingKID, "/kid", "kid is empty")
	}
	if len(kid) > MaxKIDLen || !isIDString(kid, ":") {
		return newError(CodeBadKID, "/kid", "kid is not 1 to "+strconv.Itoa(MaxKIDLen)+" characters of [A-Za-z0-9._:-]")
	}
	return nil
}

// isIDString reports whether s has only [A-Za-z0-9._-] and the bytes in extra.
func isIDString(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			ok := false
			for j := 0; j < len(extra); j++ {
				if c == extra[j] {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

package frame

import (
	"errors"
	"strconv"
)

// Code is a stable reason code. Codes are part of the wire contract: they
// appear in batch results, security events and problem+json bodies, and
// docs/PROTOCOL.md lists each one. A code is never renamed or reused for
// another meaning; new codes may be added. Package codes holds the one
// catalogue of reason codes, these included by reference, with each one's
// HTTP status, event severity and what a client does about it.
type Code string

// Reason codes. A refusal carries exactly one; when input has several faults,
// which one is reported is deterministic (the same bytes always give the same
// code) and follows the phase order documented in docs/PROTOCOL.md.
const (
	// CodeTooLarge: the envelope is over MaxEnvelopeSize bytes, its frame
	// member over MaxFrameSize bytes, or a telemetry ext over MaxExtSize.
	CodeTooLarge Code = "too_large"
	// CodeInvalidUTF8: the bytes are not valid UTF-8, or a string escapes a
	// lone UTF-16 surrogate (\ud800 without its pair), which no UTF-8 can hold.
	CodeInvalidUTF8 Code = "invalid_utf8"
	// CodeBadJSON: the bytes are not one JSON value (RFC 8259): syntax error,
	// truncation, trailing data.
	CodeBadJSON Code = "bad_json"
	// CodeDuplicateMember: an object has two members with the same name.
	CodeDuplicateMember Code = "duplicate_member"
	// CodeTooDeep: objects and arrays nest deeper than the limit.
	CodeTooDeep Code = "too_deep"
	// CodeNumberOutOfRange: a number is not finite as an IEEE 754 double
	// (1e400), or an integer member is outside 0..2^53-1.
	CodeNumberOutOfRange Code = "number_out_of_range"
	// CodeUnknownMember: an object has a member the schema does not define.
	CodeUnknownMember Code = "unknown_member"
	// CodeMissingMember: a required member is absent.
	CodeMissingMember Code = "missing_member"
	// CodeSchema: a member has the wrong JSON type, or a value outside its
	// documented range, set or syntax (where no more specific code applies).
	CodeSchema Code = "schema"
	// CodeNotCanonical: the frame bytes are not in RFC 8785 (JCS) canonical
	// form, so they are not what the sender signed.
	CodeNotCanonical Code = "not_canonical"
	// CodeMissingAlg: the envelope has no alg member. There is no default.
	CodeMissingAlg Code = "missing_alg"
	// CodeAlgNotAllowed: alg is not Ed25519, ES256 or HS256 ("none" included).
	CodeAlgNotAllowed Code = "alg_not_allowed"
	// CodeMissingKID: the envelope has no kid member, or it is empty.
	CodeMissingKID Code = "missing_kid"
	// CodeBadKID: kid is longer than MaxKIDLen or has characters outside
	// [A-Za-z0-9._:-].
	CodeBadKID Code = "bad_kid"
	// CodeBadSigEncoding: sig is not canonical unpadded base64url, or its
	// decoded length is wrong for alg.
	CodeBadSigEncoding Code = "bad_sig_encoding"
	// CodeUnknownKID: no key is registered under kid for the sending vehicle
	// (a retired one is the receiver's retired_kid). This package has no
	// key registry and never returns it; receivers do, failing closed.
	CodeUnknownKID Code = "unknown_kid"
	// CodeAlgMismatch: the key registered under kid is for another alg than
	// the envelope names.
	CodeAlgMismatch Code = "alg_mismatch"
	// CodeBadSignature: the signature does not verify over the frame bytes.
	CodeBadSignature Code = "bad_signature"
	// CodeUnsupportedVersion: the frame's v is not 1.
	CodeUnsupportedVersion Code = "unsupported_version"
	// CodeUnknownKind: the frame's kind is not one this version defines.
	CodeUnknownKind Code = "unknown_kind"
	// CodeBadTS: ts is not RFC 3339 UTC with exactly millisecond precision
	// (2026-11-24T21:00:00.123Z).
	CodeBadTS Code = "bad_ts"
	// CodeBadKey: a key was refused at registration or signer construction
	// (wrong length or curve, non-canonical or small-order Ed25519 point,
	// HS256 secret outside 32..64 bytes).
	CodeBadKey Code = "bad_key"
)

// Error is the error every function of this package returns for bad input,
// bad signatures and refused keys. Match it with errors.As, or compare codes
// with CodeOf. Its text never contains key material or signature bytes;
// member names taken from input are quoted and truncated.
type Error struct {
	// Code is the stable reason code.
	Code Code
	// Pointer is the RFC 6901 JSON Pointer of the offending member, relative
	// to the value that was parsed (the envelope for ParseEnvelope, the frame
	// for DecodeFrame), or "" when the fault is not in one member.
	Pointer string
	// Detail is a short human-readable explanation, safe to show to the
	// sender. It is not stable; match on Code.
	Detail string
}

func (e *Error) Error() string {
	s := "frame: " + string(e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Pointer != "" {
		s += " at " + strconv.Quote(e.Pointer)
	}
	return s
}

// CodeOf returns the reason code of err if err is or wraps an *Error, and ""
// otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func newError(code Code, ptr, detail string) *Error {
	return &Error{Code: code, Pointer: ptr, Detail: detail}
}

// quoteName quotes a member name taken from untrusted input for an error
// detail: ASCII only, at most 32 bytes of the name.
func quoteName(name string) string {
	const maxEcho = 32
	if len(name) > maxEcho {
		return strconv.QuoteToASCII(name[:maxEcho]) + "..."
	}
	return strconv.QuoteToASCII(name)
}

// joinPointer appends a member name to an RFC 6901 JSON Pointer. Only names
// the schema defines are ever joined, so no ~0/~1 escaping is needed; the
// check keeps that true.
func joinPointer(ptr, name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '~' || name[i] == '/' {
			panic("frame: internal error: pointer to a member name with ~ or /")
		}
	}
	return ptr + "/" + name
}

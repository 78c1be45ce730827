package frame

import (
	"bytes"
	"strconv"

	"github.com/go-json-experiment/json"
)

// Ext is a telemetry frame's extension member, ext: the AV stack's own data
// (diagnostics, trailer and cargo sensors, autonomy mode, ...) that the
// schema does not enumerate. It holds one JSON object in RFC 8785 canonical
// form, at most MaxExtSize bytes and MaxExtDepth levels deep; inside it any
// member names and values are allowed, strings of any Unicode, under the
// same strict rules as the rest of the frame (no duplicate names, no lone
// surrogates, finite numbers only). An empty Ext (nil) means the frame has
// no ext member.
//
// The gateway stores ext and returns it byte for byte, and never interprets
// it: plausibility, liveness and every other decision read the schema's
// members only, so a value inside ext never stands in for one of them. Make
// an Ext with NewExt or MarshalExt, which canonicalize; a hand-made one
// that is not canonical is refused when the frame is signed.
type Ext []byte

// NewExt checks that b is one strict I-JSON object within MaxExtSize and
// MaxExtDepth (after canonicalization) and returns its RFC 8785 canonical
// form. It returns an *Error with CodeSchema if b is not an object, or the
// strict decoder's code (CodeInvalidUTF8, CodeBadJSON, CodeDuplicateMember,
// CodeTooDeep, CodeNumberOutOfRange, CodeTooLarge), at pointer /ext.
func NewExt(b []byte) (Ext, error) {
	if len(b) > MaxFrameSize {
		// Bound the work before canonicalizing: no ext that needs more than
		// a frame's bytes can shrink below MaxExtSize but whitespace, and
		// a sender has no reason to send that much.
		return nil, extTooLarge()
	}
	top, err := walk(b, MaxExtDepth, nil)
	if err != nil {
		return nil, atExt(err)
	}
	if top != '{' {
		return nil, extNotObject()
	}
	c, err := canonicalize(b)
	if err != nil {
		return nil, atExt(err)
	}
	if len(c) > MaxExtSize {
		return nil, extTooLarge()
	}
	return Ext(c), nil
}

// MarshalExt marshals v (a map or struct) as JSON and returns it as an Ext,
// as NewExt does. Strings must be valid UTF-8 and numbers finite: they are
// refused, never replaced.
func MarshalExt(v any) (Ext, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, newError(CodeSchema, "/ext", "ext does not marshal as JSON: "+err.Error())
	}
	return NewExt(b)
}

// check reports whether e is a valid ext: one strict JSON object, within
// the bounds, in canonical form. The empty Ext is valid (no member).
func (e Ext) check() error {
	if len(e) == 0 {
		return nil
	}
	if len(e) > MaxExtSize {
		return extTooLarge()
	}
	top, err := walk(e, MaxExtDepth, nil)
	if err != nil {
		return atExt(err)
	}
	if top != '{' {
		return extNotObject()
	}
	return atExt(checkCanonical(e))
}

// decodeExt reads the ext member's value. The whole frame has passed the
// strict and canonical checks; StaticValidate checks the value's bounds.
func decodeExt(r *reader) (Ext, error) {
	if r.dec.PeekKind() != '{' {
		return nil, extNotObject()
	}
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, newError(CodeBadJSON, "", "not one JSON value")
	}
	return Ext(bytes.Clone(v)), nil
}

func extTooLarge() error {
	return newError(CodeTooLarge, "/ext", "ext is larger than "+strconv.Itoa(MaxExtSize)+" bytes")
}

func extNotObject() error {
	return newError(CodeSchema, "/ext", "ext is not a JSON object")
}

// atExt points a strict-decoding error at the ext member.
func atExt(err error) error {
	if e, ok := err.(*Error); ok && e.Pointer == "" {
		e.Pointer = "/ext"
	}
	return err
}

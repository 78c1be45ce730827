package frame

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// This file is the generic strict layer, run before any schema code:
// the bytes must be exactly one I-JSON value (RFC 7493) within the size and
// depth limits, and, for a frame, in RFC 8785 canonical form.
//
// Why signed data is not decoded as generic JSON: two parsers that disagree
// on duplicate names, invalid UTF-8 or out-of-range numbers would let one
// signed message mean two things. So every ambiguous input is refused, and
// the signature covers the received bytes, which must equal their own
// canonical form.

// member is one member of the top-level object met by walk: its name and the
// span of its value in the input.
type member struct {
	name       string
	kind       jsontext.Kind
	start, end int
}

// walk checks that b is one strict JSON value: valid UTF-8 with no escaped
// lone surrogates, no duplicate member names, nesting at most maxDepth,
// every number finite as a float64, nothing after the value. It calls
// onMember for each member of a top-level object, in input order, and
// returns the kind of the top-level value.
//
// The caller checks the size first. Faults are reported in byte order, so the
// same bytes always give the same code.
func walk(b []byte, maxDepth int, onMember func(member)) (jsontext.Kind, error) {
	if !utf8.Valid(b) {
		return 0, newError(CodeInvalidUTF8, "", "input is not valid UTF-8")
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(b)) // default options: RFC 7493 strict
	type open struct {
		obj        bool
		expectName bool
	}
	var stack [MaxEnvelopeDepth + 1]open
	depth := 0
	var top jsontext.Kind
	var name string
	valStart := 0
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			if err == io.EOF && top != 0 {
				return top, nil
			}
			return 0, classify(b, err)
		}
		if top != 0 && depth == 0 {
			return 0, newError(CodeBadJSON, "", "data after the top-level value")
		}
		k := tok.Kind()
		if k == '"' && depth > 0 && stack[depth-1].obj && stack[depth-1].expectName {
			stack[depth-1].expectName = false
			if depth == 1 && onMember != nil {
				name = tok.String()
				valStart = skipColon(b, int(dec.InputOffset()))
			}
			continue
		}
		if top == 0 {
			top = k
		}
		switch k {
		case '{', '[':
			if depth == maxDepth {
				return 0, newError(CodeTooDeep, "", "objects and arrays nest too deep")
			}
			stack[depth] = open{obj: k == '{', expectName: k == '{'}
			depth++
			continue // the value ends at its closing token
		case '}', ']':
			depth--
		case '0':
			if _, err := tok.Float(); err != nil {
				return 0, newError(CodeNumberOutOfRange, "", "number is not finite as an IEEE 754 double")
			}
		}
		// A value just ended at this depth.
		if depth > 0 && stack[depth-1].obj {
			stack[depth-1].expectName = true
			if depth == 1 && onMember != nil {
				vk := k
				if vk == '}' {
					vk = '{'
				} else if vk == ']' {
					vk = '['
				}
				onMember(member{name: name, kind: vk, start: valStart, end: int(dec.InputOffset())})
			}
		}
	}
}

// skipColon returns the offset of the value that follows a member name
// ending at off: past whitespace, the colon and whitespace.
func skipColon(b []byte, off int) int {
	for off < len(b) {
		switch b[off] {
		case ' ', '\t', '\r', '\n', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// classify maps a jsontext error to a reason code. b has already been found
// to be valid UTF-8, so an invalid escape naming a surrogate is a lone one.
func classify(b []byte, err error) *Error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return newError(CodeDuplicateMember, "", "an object has two members with the same name")
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && isSurrogateEscape(b, se.ByteOffset) {
		return newError(CodeInvalidUTF8, "", "a string escapes a lone UTF-16 surrogate")
	}
	return newError(CodeBadJSON, "", "not one JSON value")
}

// isSurrogateEscape reports whether b holds \uD800..\uDFFF at off.
func isSurrogateEscape(b []byte, off int64) bool {
	if off < 0 || off+6 > int64(len(b)) {
		return false
	}
	e := b[off : off+6]
	if e[0] != '\\' || e[1] != 'u' || (e[2] != 'd' && e[2] != 'D') {
		return false
	}
	switch e[3] {
	case '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'A', 'B', 'C', 'D', 'E', 'F':
		return true
	}
	return false
}

// checkCanonical reports whether b, already accepted by walk, equals its RFC
// 8785 canonical form. walk has refused what JCS cannot represent (duplicate
// names, lone surrogates, non-finite numbers), so jsontext's Canonicalize is
// exact here; on its own it would turn 1e400 into 1.7976931348623157e+308.
func checkCanonical(b []byte) error {
	c := jsontext.Value(bytes.Clone(b))
	if err := c.Canonicalize(); err != nil {
		return newError(CodeBadJSON, "", "not one JSON value")
	}
	if !bytes.Equal(c, b) {
		return newError(CodeNotCanonical, "", "bytes are not in RFC 8785 canonical form")
	}
	return nil
}

// canonicalize returns the RFC 8785 canonical form of b under this package's
// strict rules (no depth beyond MaxEnvelopeDepth, finite numbers only). Tests
// run the RFC 8785 vectors through it.
func canonicalize(b []byte) ([]byte, error) {
	if _, err := walk(b, MaxEnvelopeDepth, nil); err != nil {
		return nil, err
	}
	c := jsontext.Value(bytes.Clone(b))
	if err := c.Canonicalize(); err != nil {
		return nil, newError(CodeBadJSON, "", "not one JSON value")
	}
	return c, nil
}

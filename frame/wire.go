package frame

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// reader decodes the schema from bytes that walk and checkCanonical have
// already accepted, so a syntax error here is an internal fault; it still
// fails closed with CodeBadJSON.
type reader struct {
	dec *jsontext.Decoder
}

func newReader(b []byte) *reader {
	return &reader{dec: jsontext.NewDecoder(bytes.NewBuffer(b))}
}

// reset makes r read b afresh.
func (r *reader) reset(b []byte) { r.dec.Reset(bytes.NewBuffer(b)) }

func (r *reader) token() (jsontext.Token, error) {
	tok, err := r.dec.ReadToken()
	if err != nil {
		return tok, newError(CodeBadJSON, "", "not one JSON value")
	}
	return tok, nil
}

// object reads an object at ptr, calling member for each name; member must
// consume the value.
func (r *reader) object(ptr string, member func(name string) error) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return newError(CodeSchema, ptr, "not a JSON object")
	}
	for {
		tok, err := r.token()
		if err != nil {
			return err
		}
		if tok.Kind() == '}' {
			return nil
		}
		if err := member(tok.String()); err != nil {
			return err
		}
	}
}

// unknown returns the error for a member the schema does not define. Like
// every reader error it ends the decoding.
func unknown(ptr, name string) error {
	return newError(CodeUnknownMember, ptr, "unknown member "+quoteName(name))
}

func (r *reader) str(ptr string) (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	if tok.Kind() != '"' {
		return "", newError(CodeSchema, ptr, "not a string")
	}
	return tok.String(), nil
}

func (r *reader) float(ptr string) (float64, error) {
	tok, err := r.token()
	if err != nil {
		return 0, err
	}
	if tok.Kind() != '0' {
		return 0, newError(CodeSchema, ptr, "not a number")
	}
	f, err := tok.Float()
	if err != nil {
		return 0, newError(CodeNumberOutOfRange, ptr, "number is not finite")
	}
	return f, nil
}

// uint53 reads an integer member: digits only (the canonical form of an
// integer below 10^21), value 0..MaxSafeInteger.
func (r *reader) uint53(ptr string) (uint64, error) {
	tok, err := r.token()
	if err != nil {
		return 0, err
	}
	if tok.Kind() != '0' {
		return 0, newError(CodeSchema, ptr, "not a number")
	}
	s := tok.String()
	if s != "" && s[0] == '-' {
		return 0, newError(CodeNumberOutOfRange, ptr, "integer is negative")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, newError(CodeSchema, ptr, "not an integer")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxSafeInteger {
		return 0, newError(CodeNumberOutOfRange, ptr, "integer is above 2^53-1")
	}
	return n, nil
}

// strings reads an array of strings of at most max elements.
func (r *reader) strings(ptr string, max int) ([]string, error) {
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '[' {
		return nil, newError(CodeSchema, ptr, "not an array")
	}
	out := []string{}
	for {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		switch tok.Kind() {
		case ']':
			return out, nil
		case '"':
			if len(out) == max {
				return nil, newError(CodeSchema, ptr, "array has more than "+strconv.Itoa(max)+" elements")
			}
			out = append(out, tok.String())
		default:
			return nil, newError(CodeSchema, ptr, "array element is not a string")
		}
	}
}

// bytes64 reads a canonical unpadded base64url string.
func (r *reader) bytes64(ptr string) ([]byte, error) {
	s, err := r.str(ptr)
	if err != nil {
		return nil, err
	}
	b, err := decodeB64(s)
	if err != nil {
		return nil, newError(CodeSchema, ptr, "not canonical unpadded base64url")
	}
	return b, nil
}

// seen tracks which members of one object were present, to report the first
// missing required one in name order.
type seen []string

func (s *seen) add(name string) { *s = append(*s, name) }

func (s seen) missing(ptr string, required ...string) error {
	for _, name := range required {
		if !slices.Contains(s, name) {
			return newError(CodeMissingMember, joinPointer(ptr, name), "required member is missing")
		}
	}
	return nil
}

// writer builds an object in RFC 8785 form: members sorted by name (all
// names are ASCII, so byte order is UTF-16 code unit order), no whitespace,
// numbers in ECMAScript form, strings minimally escaped. Values are
// appended to one buffer as they come; append emits them in name order.
type writer struct {
	buf    []byte
	fields []field
	store  [16]field
}

type field struct {
	name       string
	start, end int
}

func (w *writer) begin(name string) {
	if w.fields == nil {
		w.fields = w.store[:0]
	}
	w.fields = append(w.fields, field{name: name, start: len(w.buf)})
}

func (w *writer) end() { w.fields[len(w.fields)-1].end = len(w.buf) }

func (w *writer) raw(name string, val []byte) {
	w.begin(name)
	w.buf = append(w.buf, val...)
	w.end()
}

func (w *writer) str(name, s string) {
	w.begin(name)
	w.buf = appendString(w.buf, s)
	w.end()
}

func (w *writer) num(name string, f float64) {
	w.begin(name)
	w.buf = appendNumber(w.buf, f)
	w.end()
}

func (w *writer) uint(name string, n uint64) {
	w.begin(name)
	w.buf = strconv.AppendUint(w.buf, n, 10)
	w.end()
}

func (w *writer) strings(name string, ss []string) {
	w.begin(name)
	w.buf = append(w.buf, '[')
	for i, s := range ss {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = appendString(w.buf, s)
	}
	w.buf = append(w.buf, ']')
	w.end()
}

func (w *writer) object(name string, sub *writer) {
	w.begin(name)
	w.buf = sub.append(w.buf)
	w.end()
}

func (w *writer) append(dst []byte) []byte {
	slices.SortFunc(w.fields, func(a, b field) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		panic("frame: internal error: duplicate member " + a.name)
	})
	dst = append(dst, '{')
	for i, f := range w.fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f.name)
		dst = append(dst, ':')
		dst = append(dst, w.buf[f.start:f.end]...)
	}
	return append(dst, '}')
}

// appendString appends s as an RFC 8785 string (§3.2.2.2).
func appendString(dst []byte, s string) []byte {
	b, err := jsontext.AppendQuote(dst, s)
	if err != nil {
		panic("frame: internal error: encoding a string that is not valid UTF-8")
	}
	return b
}

// appendNumber appends f as an RFC 8785 number (§3.2.2.3, the ECMAScript
// Number.prototype.toString form). -0 becomes 0. f must be finite; the
// schema's range checks guarantee it.
func appendNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic("frame: internal error: encoding a non-finite number")
	}
	if f == 0 {
		return append(dst, '0')
	}
	return jsontext.AppendFloat(dst, f, 64)
}

// boolean reads a true or false member.
func (r *reader) boolean(ptr string) (bool, error) {
	tok, err := r.token()
	if err != nil {
		return false, err
	}
	switch tok.Kind() {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return false, newError(CodeSchema, ptr, "not true or false")
}

// array reads an array of at most max elements at ptr, calling elem for
// each with its index and pointer; elem must consume the element. Nesting
// is bounded already: walk refused anything deeper than MaxFrameDepth.
func (r *reader) array(ptr string, max int, elem func(i int, ptr string) error) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok.Kind() != '[' {
		return newError(CodeSchema, ptr, "not an array")
	}
	for i := 0; ; i++ {
		if r.dec.PeekKind() == ']' {
			_, err := r.token()
			return err
		}
		if i == max {
			return newError(CodeSchema, ptr, "array has more than "+strconv.Itoa(max)+" elements")
		}
		if err := elem(i, ptr+"/"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
}

func (w *writer) boolean(name string, b bool) {
	w.begin(name)
	if b {
		w.buf = append(w.buf, "true"...)
	} else {
		w.buf = append(w.buf, "false"...)
	}
	w.end()
}

// array writes an array of already encoded (canonical) elements.
func (w *writer) array(name string, elems [][]byte) {
	w.begin(name)
	w.buf = append(w.buf, '[')
	for i, e := range elems {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, e...)
	}
	w.buf = append(w.buf, ']')
	w.end()
}

// Package principal names who acts: a vehicle, a TMS client, an operator, or
// the gateway itself.
//
// # Security model
//
// A Principal is only ever built from a verified certificate chain (package
// pki maps VerifiedChains[0][0] to one) or by the gateway for its own actions.
// Identifiers inside payloads are compared against it and never replace it.
// The URI form urn:fifthwheel:<kind>:<id> is what certificates carry as their
// URI SAN; it is matched exactly and case-sensitively.
package principal

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the kind of a principal.
type Kind string

// The principal kinds. Each maps to one certificate profile.
const (
	Vehicle  Kind = "vehicle"
	Client   Kind = "client"
	Operator Kind = "operator"
	Gateway  Kind = "gateway"
	System   Kind = "system" // the gateway's own background actions (no certificate)
)

// MaxIDLen bounds an identifier: long enough for a VIN or a UUID with a
// prefix, short enough to keep rows, events and certificates small.
const MaxIDLen = 64

// Principal is an authenticated actor.
type Principal struct {
	Kind Kind
	ID   string
}

// String returns the URI form, urn:fifthwheel:<kind>:<id>.
func (p Principal) String() string {
	if p.Kind == "" {
		return ""
	}
	return "urn:fifthwheel:" + string(p.Kind) + ":" + p.ID
}

// IsZero reports whether p is the zero Principal (nobody).
func (p Principal) IsZero() bool { return p.Kind == "" && p.ID == "" }

// ErrInvalid reports a malformed principal URI or identifier.
var ErrInvalid = errors.New("principal: invalid")

// ValidID reports whether id is an acceptable identifier: 1 to MaxIDLen
// characters from [A-Za-z0-9._-], not starting with '.' or '-'. The set is
// kept narrow so identifiers are safe in URIs, file names, SQL and logs.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	if id[0] == '.' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a Principal after validating kind and id.
func New(kind Kind, id string) (Principal, error) {
	switch kind {
	case Vehicle, Client, Operator, Gateway, System:
	default:
		return Principal{}, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if !ValidID(id) {
		return Principal{}, fmt.Errorf("%w: identifier must be 1-%d characters of [A-Za-z0-9._-]", ErrInvalid, MaxIDLen)
	}
	return Principal{Kind: kind, ID: id}, nil
}

// ParseURI parses urn:fifthwheel:<kind>:<id>, exactly and case-sensitively.
func ParseURI(s string) (Principal, error) {
	const prefix = "urn:fifthwheel:"
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return Principal{}, fmt.Errorf("%w: not a urn:fifthwheel: URI", ErrInvalid)
	}
	kind, id, ok := strings.Cut(rest, ":")
	if !ok {
		return Principal{}, fmt.Errorf("%w: missing identifier", ErrInvalid)
	}
	if Kind(kind) == System {
		return Principal{}, fmt.Errorf("%w: system principals have no URI", ErrInvalid)
	}
	return New(Kind(kind), id)
}

// Package httpapi is what the gateway's HTTP APIs share below
// internal/server: the JSON answer (WriteJSON) and the guard of the TMS read
// routes (TMSRead). Domain packages (ingest, liveness, enroll) use it; they
// never import internal/server, which only routes to their handlers.
//
// # Security model
//
//   - TMSRead lets a request reach a TMS read route only from a TMS client
//     or an operator, as the verified client certificate names it (the peer
//     function: pki.Peer); anyone else gets 403 forbidden. A route's {id}
//     path value must be a valid identifier (principal.ValidID), or the
//     request gets 400 bad_vehicle_id before the handler runs. The TMS
//     listener admits only client and operator certificates already
//     (pki.ServerTLSConfig); the guard keeps a route safe wherever it is
//     mounted. Tokens, scopes, roles and carrier scope are package authz's
//     guard, which the gateway puts in front of every TMS route; TMSRead
//     is the last line under it.
//   - JSON answers are never cached (Cache-Control: no-store) nor sniffed
//     (X-Content-Type-Options: nosniff). A value that does not encode
//     becomes a bare 500 problem (package problem), never a partial 200.
//
// # Compatibility
//
// The refusal codes are stable: clients match on them, and they are never
// reused for another meaning.
package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// ContentType is the media type of JSON answers.
const ContentType = "application/json"

// WriteJSON answers status with v encoded as JSON (one line). HTML
// escaping is off: it would rewrite <, >, & and U+2028 inside a frame's raw
// bytes (a truck's ext strings), so the frame a TMS reads would no longer be
// the bytes the truck signed; nosniff keeps browsers from reading it as HTML.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		problem.Write(w, r, err) // not an *Error: a bare 500
		return
	}
	WriteJSONBytes(w, status, b.Bytes())
}

// WriteJSONBytes answers status with b, which is JSON already (a stored
// envelope, sent byte for byte).
func WriteJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// TMSRead guards h, a TMS read route: only a TMS client or an operator
// reaches it, and only with a valid {id} path value where the route has
// one (ServeMux never matches a wildcard to an empty segment). peer returns
// the principal of the request's verified client certificate.
func TMSRead(peer func(*http.Request) (principal.Principal, bool), h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := peer(r)
		if !ok || (p.Kind != principal.Client && p.Kind != principal.Operator) {
			problem.Write(w, r, problem.New(http.StatusForbidden, codes.Forbidden, "a TMS client or operator certificate is required"))
			return
		}
		if id := r.PathValue("id"); id != "" && !principal.ValidID(id) {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadVehicleID, "the vehicle id is malformed"))
			return
		}
		h(w, r)
	})
}

// MaxIdempotencyKeyLen bounds an Idempotency-Key: a UUID is 36 characters;
// 128 leaves room for a client's own prefixing.
const MaxIdempotencyKeyLen = 128

// ValidIdempotencyKey reports whether k is a well-formed Idempotency-Key:
// 1 to MaxIdempotencyKeyLen characters of [A-Za-z0-9._:~-]. Every POST of
// the TMS listener takes one (tmsapi, incidentapi).
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}

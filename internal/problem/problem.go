// Package problem is fifthwheel's error type for callers across a trust
// boundary, and its RFC 9457 (problem+json) rendering on HTTP.
//
// # Security model
//
// An *Error keeps two things apart: Cause, the internal error kept for logs
// (it may name files, SQL or peers), and Detail, the client-safe sentence. Only
// Type, Title, Status, Detail and Code ever reach a client. Any error that is
// not an *Error renders as a bare 500 "internal" with no detail, so an
// unexpected error never leaks its text. Codes are stable: clients and
// detection rules match on them; a code is never reused for another meaning.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/fifthwheel/fifthwheel/codes"
)

// ContentType is the RFC 9457 media type.
const ContentType = "application/problem+json"

// TypeBase prefixes a code to form the problem "type" URI (RFC 9457 §3.1.1).
const TypeBase = "urn:fifthwheel:problem:"

// Error is a typed, client-presentable error.
type Error struct {
	Status int    // HTTP status
	Code   string // stable reason code, e.g. "store_unavailable"
	Title  string // short summary; defaults to the status text
	Detail string // client-safe explanation; never secrets or internal paths
	Cause  error  // internal cause, for logs only
	// RetryAfter, when positive, is sent as Retry-After (seconds) on 429/503.
	RetryAfter int
}

// New returns an *Error without an internal cause.
func New(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// Wrap returns an *Error carrying cause for logs.
func Wrap(cause error, status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail, Cause: cause}
}

// Error is the log form: it includes the internal cause.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Cause)
	}
	return e.Code + ": " + e.Detail
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Body is the problem+json document (RFC 9457 §3) with our "code" extension.
type Body struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
}

// From converts any error to an *Error. Errors that are not (or do not wrap)
// an *Error become a 500 with code codes.Internal and no detail.
func From(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Status: http.StatusInternalServerError, Code: codes.Internal, Cause: err}
}

// BodyOf returns the client-visible body for err.
func BodyOf(err error) Body {
	pe := From(err)
	status := pe.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	title := pe.Title
	if title == "" {
		title = http.StatusText(status)
	}
	return Body{Type: TypeBase + pe.Code, Title: title, Status: status, Detail: pe.Detail, Code: pe.Code}
}

// Write renders err as problem+json. The instance member is the request path.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	b := BodyOf(err)
	if r != nil {
		b.Instance = r.URL.Path
	}
	pe := From(err)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if pe.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(pe.RetryAfter))
	}
	w.WriteHeader(b.Status)
	_ = json.NewEncoder(w).Encode(b)
}

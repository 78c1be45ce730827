package problem

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteKeepsCauseInternal(t *testing.T) {
	cause := errors.New("open /var/lib/secret/db: permission denied")
	err := Wrap(cause, http.StatusServiceUnavailable, "store_unavailable", "the store is unavailable")
	rec := httptest.NewRecorder()
	Write(rec, httptest.NewRequest("GET", "/v1/x", nil), err)
	if rec.Code != 503 || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("status %d, content-type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if strings.Contains(rec.Body.String(), "/var/lib/secret") {
		t.Fatalf("internal cause leaked: %s", rec.Body)
	}
	var b Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	want := Body{Type: TypeBase + "store_unavailable", Title: "Service Unavailable", Status: 503,
		Detail: "the store is unavailable", Instance: "/v1/x", Code: "store_unavailable"}
	if b != want {
		t.Fatalf("body %+v, want %+v", b, want)
	}
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("log form must keep the cause: %v", err)
	}
}

func TestWriteUntypedErrorIsOpaque(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, nil, errors.New("pq: password authentication failed for user admin"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "password") {
		t.Fatalf("untyped error leaked or wrong status: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("missing code: %s", rec.Body)
	}
}

func TestRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, nil, &Error{Status: 429, Code: "rate_limited", Detail: "slow down", RetryAfter: 2})
	if rec.Header().Get("Retry-After") != "2" || rec.Code != 429 {
		t.Fatalf("got %d Retry-After=%q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

package codes

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCatalogueWellFormed: one entry per code, each with a meaning, a real
// HTTP status or none, a known severity, kind and area, listed by area.
func TestCatalogueWellFormed(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]bool{}
	lastArea := -1
	for _, e := range catalogue {
		if seen[e.Code] {
			t.Errorf("%s: listed twice", e.Code)
		}
		seen[e.Code] = true
		// A code travels as a nack reason (at most 64 characters) and a
		// WebSocket close reason (at most 123 bytes).
		if !name.MatchString(e.Code) || len(e.Code) > 64 {
			t.Errorf("%q: not a lowercase snake_case code of at most 64 characters", e.Code)
		}
		if !strings.HasSuffix(e.Meaning, ".") || strings.Contains(e.Meaning, "|") || strings.Contains(e.Meaning, "\n") {
			t.Errorf("%s: meaning %q is not one sentence ending with a period, without | or newline", e.Code, e.Meaning)
		}
		if e.Status != 0 && (e.Status < 400 || e.Status > 599) {
			t.Errorf("%s: status %d is not an error status", e.Code, e.Status)
		}
		if e.Severity < SeverityNone || e.Severity > SeverityCritical {
			t.Errorf("%s: severity %d", e.Code, e.Severity)
		}
		if e.Kind != "" && !slices.Contains(Kinds, e.Kind) {
			t.Errorf("%s: kind %q", e.Code, e.Kind)
		}
		if e.Status != 0 && e.Kind == "" {
			t.Errorf("%s: an HTTP answer without a kind: what does the client do?", e.Code)
		}
		a := slices.Index(Areas, e.Area)
		if a < 0 {
			t.Errorf("%s: area %q", e.Code, e.Area)
		}
		if a < lastArea {
			t.Errorf("%s: area %s out of order (the catalogue is grouped by area in the order of Areas)", e.Code, e.Area)
		}
		lastArea = max(lastArea, a)
		if got, ok := Lookup(e.Code); !ok || got != e {
			t.Errorf("%s: Lookup = %+v, %v", e.Code, got, ok)
		}
	}
	if _, ok := Lookup("no_such_code"); ok {
		t.Error("Lookup of an unknown code succeeded")
	}
	if len(All()) != len(catalogue) {
		t.Error("All does not return every entry")
	}
}

// TestOnlyTransientCodesAreRetried: the codes a client may send again
// unchanged are exactly the transient ones. The gateway's nacks carry
// store_unavailable and rate_limited for "not decided, send it again";
// every refusal of what was sent is final.
func TestOnlyTransientCodesAreRetried(t *testing.T) {
	for _, c := range []string{StoreUnavailable, RateLimited, GatewayBusy, GatewayOverloaded, RevocationStale} {
		if !Retryable(c) {
			t.Errorf("%s is not retryable", c)
		}
	}
	for _, c := range []string{Replay, StaleCounter, ClockSkew, "bad_signature", VehicleSuspended, TLSCertRevoked, "no_such_code"} {
		if Retryable(c) {
			t.Errorf("%s is retryable", c)
		}
	}
	for _, e := range catalogue {
		if e.Retry() != (e.Kind == KindTransient) {
			t.Errorf("%s: Retry %v with kind %s", e.Code, e.Retry(), e.Kind)
		}
	}
}

func TestSeverityOf(t *testing.T) {
	if got := SeverityOf("bad_signature", SeverityMedium); got != SeverityHigh {
		t.Errorf("bad_signature: %v", got)
	}
	if got := SeverityOf(StaleCounter, SeverityLow); got != SeverityMedium {
		t.Errorf("stale_counter: %v", got)
	}
	if got := SeverityOf("no_such_code", SeverityMedium); got != SeverityMedium {
		t.Errorf("unknown code: %v", got)
	}
	if SeverityHigh.String() != "high" || Severity(9).String() != "unknown" {
		t.Error("String")
	}
}

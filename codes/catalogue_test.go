package codes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
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

// TestCatalogueHoldsEveryConstant: every code constant of this package has
// its entry, and every entry is a constant here or one of package frame's
// codes: nothing is declared without its meaning, status and kind.
func TestCatalogueHoldsEveryConstant(t *testing.T) {
	consts := stringConsts(t, "catalogue.go", "")
	frameCodes := stringConsts(t, "../frame/errors.go", "Code")
	if len(consts) < 100 || len(frameCodes) < 20 {
		t.Fatalf("found %d constants here and %d frame codes: the parser is broken", len(consts), len(frameCodes))
	}
	for c := range consts {
		if _, ok := Lookup(c); !ok {
			t.Errorf("constant %q has no catalogue entry", c)
		}
		if frameCodes[c] {
			t.Errorf("%q is package frame's code: refer to frame's constant, do not declare it again", c)
		}
	}
	for c := range frameCodes {
		if e, ok := Lookup(c); !ok || e.Area != AreaFrame {
			t.Errorf("frame code %q is not in the catalogue under area frame", c)
		}
	}
	for _, e := range catalogue {
		if !consts[e.Code] && !frameCodes[e.Code] {
			t.Errorf("entry %q is neither a constant of this package nor a frame code", e.Code)
		}
		if (e.Area == AreaFrame) != frameCodes[e.Code] {
			t.Errorf("entry %q: area frame is for package frame's codes only", e.Code)
		}
	}
}

// stringConsts returns the string constants declared in file, only those of
// the named type when typ is not "".
func stringConsts(t *testing.T, file, typ string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if typ != "" {
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
					continue
				}
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[s] = true
				}
			}
		}
	}
	return out
}

// TestOnlyTransientCodesAreRetried: the codes a client may send again
// unchanged are exactly the transient ones. The gateway's nacks carry
// store_unavailable and rate_limited for "not decided, send it again";
// every refusal of what was sent is final.
func TestOnlyTransientCodesAreRetried(t *testing.T) {
	for _, c := range []string{StoreUnavailable, RateLimited, GatewayOverloaded, RevocationStale} {
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

package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
)

// notCodes are string literals that spell a catalogue code but name
// something else: each entry is "file: word" and says what it is.
var notCodes = map[string]string{
	"internal/liveness/state.go: comm_lost":             "the name of the liveness state, which its event code happens to share",
	"internal/liveness/state.go: goodbye":               "the name of a transition cause",
	"internal/store/telemetry.go: replay":               "AppendOutcome's String, a debugging name",
	"internal/store/telemetry.go: epoch_not_authorized": "AppendOutcome's String, a debugging name",
	"internal/store/incident.go: internal":              "the name of the internal notification clock of an incident",
}

// source is one parsed non-test Go file of the module.
type source struct {
	rel  string // path relative to the module root
	fset *token.FileSet
	file *ast.File
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..")
}

// sources parses every non-test Go file of the module.
func sources(t *testing.T) []source {
	t.Helper()
	root := moduleRoot(t)
	var out []source
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, path)
		out = append(out, source{rel: filepath.ToSlash(r), fset: fset, file: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("found %d Go files", len(out))
	}
	return out
}

// declaresCodes reports whether file is one of the two homes of codes:
// the catalogue and package frame's own codes.
func declaresCodes(rel string) bool { return rel == "codes/catalogue.go" || rel == "frame/errors.go" }

// TestCodesDeclaredOnce: a catalogue code is spelled out as a string in
// codes/catalogue.go (or frame/errors.go for frame's), and nowhere else:
// every other package refers to the constant, so a code cannot drift
// between a gateway package, the agent and the docs.
func TestCodesDeclaredOnce(t *testing.T) {
	for _, src := range sources(t) {
		if declaresCodes(src.rel) {
			continue
		}
		ast.Inspect(src.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ImportSpec, *ast.Field: // import paths, struct tags
				return false
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err != nil {
					return true
				}
				if _, ok := codes.Lookup(s); !ok {
					return true
				}
				if _, ok := notCodes[src.rel+": "+s]; ok {
					return true
				}
				t.Errorf("%s: the string %q is a catalogue code: refer to its constant in package codes (or frame)",
					src.fset.Position(n.Pos()), s)
			}
			return true
		})
	}
}

// TestCatalogueHoldsEveryConstant: every code constant of package codes has
// its entry, and every entry is a constant there or one of package frame's
// codes: nothing is declared without its meaning, status and kind.
func TestCatalogueHoldsEveryConstant(t *testing.T) {
	consts, frameCodes := values(constants(t, "codes/catalogue.go")), values(constants(t, "frame/errors.go"))
	if len(consts) < 100 || len(frameCodes) < 20 {
		t.Fatalf("found %d constants here and %d frame codes: the parser is broken", len(consts), len(frameCodes))
	}
	for c := range consts {
		if _, ok := codes.Lookup(c); !ok {
			t.Errorf("constant %q has no catalogue entry", c)
		}
		if frameCodes[c] {
			t.Errorf("%q is package frame's code: refer to frame's constant, do not declare it again", c)
		}
	}
	for c := range frameCodes {
		if e, ok := codes.Lookup(c); !ok || e.Area != codes.AreaFrame {
			t.Errorf("frame code %q is not in the catalogue under area frame", c)
		}
	}
	for _, e := range codes.All() {
		if !consts[e.Code] && !frameCodes[e.Code] {
			t.Errorf("entry %q is neither a constant of this package nor a frame code", e.Code)
		}
		if (e.Area == codes.AreaFrame) != frameCodes[e.Code] {
			t.Errorf("entry %q: area frame is for package frame's codes only", e.Code)
		}
	}
}

// values is the set of the values of consts.
func values(consts map[string]string) map[string]bool {
	out := make(map[string]bool, len(consts))
	for _, v := range consts {
		out[v] = true
	}
	return out
}

// constants maps the names of the string constants declared in file (a
// path relative to the module root) to their values.
func constants(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(moduleRoot(t), file), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING && i < len(vs.Names) {
					out[vs.Names[i].Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return out
}

// httpStatuses are the net/http status constants refusals use.
var httpStatuses = map[string]int{
	"StatusBadRequest": 400, "StatusUnauthorized": 401, "StatusForbidden": 403, "StatusNotFound": 404,
	"StatusMethodNotAllowed": 405, "StatusConflict": 409, "StatusGone": 410, "StatusPreconditionFailed": 412, "StatusRequestEntityTooLarge": 413,
	"StatusRequestURITooLong": 414, "StatusUnsupportedMediaType": 415, "StatusPreconditionRequired": 428, "StatusTooManyRequests": 429,
	"StatusInternalServerError": 500, "StatusNotImplemented": 501, "StatusServiceUnavailable": 503,
}

var severities = map[string]codes.Severity{
	"SeverityInfo": codes.SeverityInfo, "SeverityLow": codes.SeverityLow, "SeverityMedium": codes.SeverityMedium,
	"SeverityHigh": codes.SeverityHigh, "SeverityCritical": codes.SeverityCritical,
}

// resolver turns expressions into the codes, statuses and severities they
// stand for, where they are written literally.
type resolver struct {
	codeConsts  map[string]string // codes.X
	frameConsts map[string]string // frame.CodeX
}

// code resolves codes.X, string(frame.CodeX), frame.CodeX and "x".
func (r resolver) code(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "string" && len(e.Args) == 1 {
			return r.code(e.Args[0])
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			switch x.Name {
			case "codes":
				c, ok := r.codeConsts[e.Sel.Name]
				return c, ok
			case "frame":
				c, ok := r.frameConsts[e.Sel.Name]
				return c, ok
			}
		}
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			if _, ok := codes.Lookup(s); ok && err == nil {
				return s, true
			}
		}
	}
	return "", false
}

// selector resolves pkg.Name through names when the package is one of pkgs.
func selector[V any](e ast.Expr, names map[string]V, pkgs ...string) (V, string, bool) {
	var zero V
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return zero, "", false
	}
	x, ok := s.X.(*ast.Ident)
	if !ok || !slices.Contains(pkgs, x.Name) {
		return zero, "", false
	}
	v, ok := names[s.Sel.Name]
	return v, x.Name + "." + s.Sel.Name, ok
}

// use is one place that pairs a code with a status or a severity.
type use struct {
	pos    token.Position
	code   string
	status int            // 0: none written
	sev    codes.Severity // 0: none written
}

// uses finds, in every non-test file, the codes written next to a literal
// HTTP status (problem.New(http.StatusX, code, ...), refusal(...),
// problem.Error{Status: ..., Code: ...}) or a literal event severity
// (event.Event{Severity: ..., Code: ...}, emit(..., sev, code, ...),
// closeSpec{sev: ..., code: ...}).
func uses(t *testing.T) []use {
	r := resolver{codeConsts: constants(t, "codes/catalogue.go"), frameConsts: constants(t, "frame/errors.go")}
	var out []use
	for _, src := range sources(t) {
		if strings.HasPrefix(src.rel, "codes/") {
			continue // the catalogue itself
		}
		ast.Inspect(src.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				// A status or severity argument next to a code argument.
				for i := 0; i+1 < len(n.Args); i++ {
					for _, pair := range [][2]ast.Expr{{n.Args[i], n.Args[i+1]}, {n.Args[i+1], n.Args[i]}} {
						code, ok := r.code(pair[1])
						if !ok {
							continue
						}
						u := use{pos: src.fset.Position(pair[0].Pos()), code: code}
						if st, name, ok := selector(pair[0], httpStatuses, "http"); ok {
							u.status = st
						} else if name != "" && strings.HasPrefix(name, "http.Status") {
							t.Errorf("%s: %s is not in httpStatuses: add it", u.pos, name)
						}
						u.sev, _, _ = selector(pair[0], severities, "event", "codes")
						if u.status != 0 || u.sev != 0 {
							out = append(out, u)
						}
					}
				}
			case *ast.CompositeLit:
				var u use
				var haveCode bool
				for _, el := range n.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, ok := kv.Key.(*ast.Ident)
					if !ok {
						continue
					}
					switch key.Name {
					case "Code", "code":
						u.code, haveCode = r.code(kv.Value)
					case "Status", "status":
						u.status, _, _ = selector(kv.Value, httpStatuses, "http")
					case "Severity", "sev":
						u.sev, _, _ = selector(kv.Value, severities, "event", "codes")
					}
				}
				if haveCode && (u.status != 0 || u.sev != 0) {
					u.pos = src.fset.Position(n.Pos())
					out = append(out, u)
				}
			}
			return true
		})
	}
	return out
}

// TestCodesUsedAsCatalogued: where a refusal is written with a literal
// status and code, the status is the catalogue's; where an event is
// recorded with a literal severity and code, the code is an event code in
// the catalogue and the severity at least its. (Statuses and severities
// computed at run time are not seen here; session, ingest and enroll take
// theirs from the catalogue with codes.SeverityOf.)
func TestCodesUsedAsCatalogued(t *testing.T) {
	us := uses(t)
	var statuses, sevs int
	for _, u := range us {
		e, ok := codes.Lookup(u.code)
		if !ok {
			t.Errorf("%s: %q is not a catalogue code", u.pos, u.code)
			continue
		}
		if u.status != 0 {
			statuses++
			if u.status != e.Status {
				t.Errorf("%s: %s answered with status %d, the catalogue says %d", u.pos, u.code, u.status, e.Status)
			}
		}
		if u.sev != 0 {
			sevs++
			switch {
			case e.Severity == codes.SeverityNone:
				t.Errorf("%s: %s is recorded in an event (severity %v), the catalogue says no event carries it", u.pos, u.code, u.sev)
			case u.sev < e.Severity:
				t.Errorf("%s: %s recorded with severity %v, below the catalogue's %v", u.pos, u.code, u.sev, e.Severity)
			}
		}
	}
	if statuses < 40 || sevs < 30 {
		t.Errorf("found only %d status and %d severity uses: the scan is broken", statuses, sevs)
	}
	t.Logf("checked %d statuses and %d severities", statuses, sevs)
}

package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/fifthwheel/fifthwheel"

// pkg is what `go list -json` says of one package of the module.
type pkg struct {
	ImportPath   string
	Imports      []string // direct, non-test
	Deps         []string // transitive, non-test
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// rel is path relative to the module ("internal/sim"), or "" for a path
// outside it.
func rel(path string) string {
	if path == module {
		return "."
	}
	r, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return r
}

// inModule returns the module's packages among paths, relative.
func inModule(paths []string) []string {
	var out []string
	for _, p := range paths {
		if r := rel(p); r != "" {
			out = append(out, r)
		}
	}
	return out
}

var (
	listOnce sync.Once
	listed   map[string]pkg
	listErr  error
)

// packages lists the module's packages with `go list`, run by the go
// command this test runs with (go test puts its GOROOT/bin first in PATH).
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	listOnce.Do(func() {
		cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,TestImports,XTestImports,Error", module+"/...")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			listErr = errors.New("go list: " + err.Error() + ": " + stderr.String())
			return
		}
		listed = map[string]pkg{}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p pkg
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				listErr = err
				return
			}
			listed[rel(p.ImportPath)] = p
		}
	})
	if listErr != nil {
		t.Fatal(listErr)
	}
	if len(listed) < 15 {
		t.Fatalf("go list found %d packages of the module", len(listed))
	}
	return listed
}

// importRule bounds what a package may depend on within the module.
type importRule struct {
	pkg string
	// deps is every package of the module pkg may depend on, directly or
	// not, in its non-test code.
	deps []string
	// tests also bounds the direct imports of pkg's tests by deps.
	tests bool
	why   string
}

// importRules are the rules with an explicit allow-list.
var importRules = []importRule{
	{"frame", nil, true, "an AV team vendors frame: it carries the fewest dependencies"},
	{"codes", []string{"frame"}, true, "the public catalogue includes frame's codes and nothing else"},
	{"agent", []string{"frame", "codes"}, true, "an AV team vendors agent with frame and codes, nothing under internal/"},
	{"internal/store", nil, false, "the store knows rows and transactions, not HTTP, tokens or policy"},
	{"internal/plausibility", []string{"codes", "frame"}, false, "the configuration refers to the rules' thresholds: they carry no pipeline, store or metrics"},
	{"internal/approval", nil, false, "the configuration refers to the approval policy's defaults and bounds: it carries no store or events"},
	{"internal/config", []string{"agent", "codes", "frame", "internal/approval", "internal/plausibility"}, false,
		"configuration is data: it refers to the protocol's timing (agent), the plausibility rules and the approval policy, nothing heavier"},
}

// simImports is what the simulator may import of the module: the public
// SDK and catalogue, and what provisioning trucks needs (the fleet CA to
// mint join tokens, identities, the gateway's event store for the report,
// the crash-safe file writer for its credential cache).
var simImports = []string{"agent", "codes", "frame", "internal/atomicfile", "internal/pki", "internal/principal", "internal/store"}

// gatewayOnly are the gateway's packages the simulator must not reach, not
// even through another package: trucks talk to the gateway over the wire.
var gatewayOnly = []string{"internal/session", "internal/ingest", "internal/liveness", "internal/enroll",
	"internal/server", "internal/config", "internal/ratelimit"}

// TestImportRules: the architecture's import rules (package doc) hold for
// every package of the module.
func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	for path, p := range pkgs {
		if p.Error != nil {
			t.Errorf("%s does not load, its imports cannot be checked: %s", path, p.Error.Err)
		}
	}
	for _, r := range importRules {
		p, ok := pkgs[r.pkg]
		if !ok {
			t.Errorf("package %s is gone: update the rule", r.pkg)
			continue
		}
		for _, d := range inModule(p.Deps) {
			if !slices.Contains(r.deps, d) {
				t.Errorf("%s depends on %s (%s; allowed: %v)", r.pkg, d, r.why, r.deps)
			}
		}
		if r.tests {
			for _, d := range inModule(append(slices.Clone(p.TestImports), p.XTestImports...)) {
				if d != r.pkg && !slices.Contains(r.deps, d) {
					t.Errorf("%s's tests import %s (%s; allowed: %v)", r.pkg, d, r.why, r.deps)
				}
			}
		}
	}

	sim, ok := pkgs["internal/sim"]
	if !ok {
		t.Fatal("package internal/sim is gone: update the rule")
	}
	for _, d := range inModule(sim.Imports) {
		if !slices.Contains(simImports, d) {
			t.Errorf("internal/sim imports %s: it reaches the gateway only through %v", d, simImports)
		}
	}
	for _, d := range inModule(sim.Deps) {
		if slices.Contains(gatewayOnly, d) {
			t.Errorf("internal/sim depends on the gateway's %s", d)
		}
	}

	for path, p := range pkgs {
		for _, d := range inModule(p.Deps) {
			if strings.HasPrefix(d, "cmd/") {
				t.Errorf("%s depends on %s: nothing imports the CLI", path, d)
			}
			if d == "internal/server" && !strings.HasPrefix(path, "cmd/") {
				t.Errorf("%s depends on internal/server: only cmd/ wires the server to the domain packages", path)
			}
		}
	}
}

// domainPackages are the packages docs/ARCHITECTURE.md calls domain
// packages; the server imports none of them but event.
var domainPackages = []string{"internal/pki", "internal/gwkey", "internal/enroll", "internal/ingest", "internal/session",
	"internal/liveness", "internal/store", "internal/httpapi", "internal/command", "internal/tmsapi", "internal/tracking"}

// TestServerImportsNoDomainPackage: internal/server imports no domain
// package but event (docs/ARCHITECTURE.md, Import rules): it takes the
// PKI's handshake report and connection tracking through its Admission
// interface, and the session's through interfaces cmd/fifthwheel wires.
func TestServerImportsNoDomainPackage(t *testing.T) {
	server, ok := packages(t)["internal/server"]
	if !ok {
		t.Fatal("package internal/server is gone: update the rule")
	}
	for _, d := range inModule(server.Imports) {
		if slices.Contains(domainPackages, d) {
			t.Errorf("internal/server imports %s: it reaches domain packages only through its own interfaces, wired by cmd/", d)
		}
	}
}

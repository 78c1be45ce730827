package detect

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/DETECTION.md")

// TestShippedRulesCoverTheCatalogue: every code the catalogue records with
// a severity of low or above is matched by a shipped rule or listed in
// Unwatched with its reason, never both; a new code without either fails
// here.
func TestShippedRulesCoverTheCatalogue(t *testing.T) {
	covered := map[string][]string{}
	for _, r := range Shipped().Rules {
		for _, c := range r.Match.Codes {
			covered[c] = append(covered[c], r.ID)
		}
	}
	for _, e := range codes.All() {
		_, exempt := Unwatched[e.Code]
		switch {
		case mustCover(e) && !exempt && len(covered[e.Code]) == 0:
			t.Errorf("%s (%s, severity %s): no shipped rule matches it; add it to a rule in rules.yaml, or to Unwatched with the reason", e.Code, e.Area, e.Severity)
		case exempt && len(covered[e.Code]) > 0:
			t.Errorf("%s: in Unwatched and matched by %v", e.Code, covered[e.Code])
		case exempt && !mustCover(e):
			t.Errorf("%s: in Unwatched but its severity (%s) does not ask for a rule", e.Code, e.Severity)
		}
	}
	for c, why := range Unwatched {
		if _, ok := codes.Lookup(c); !ok || strings.TrimSpace(why) == "" {
			t.Errorf("Unwatched[%q]: not a catalogue code, or no reason", c)
		}
	}
}

func TestAttackRulesFileRefusals(t *testing.T) {
	const good = `rules:
  - id: r1
    description: one
    severity: high
    match:
      codes: [replay]
    group_by: vehicle
    window: 60s
    threshold: 1
    runbook: do this
`
	if _, err := ParseRules([]byte(good), "r.yaml"); err != nil {
		t.Fatalf("a valid file refused: %v", err)
	}
	sub := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in the base file", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name, file, want string
	}{
		{"unknown key", sub("    runbook: do this\n", "    runbook: do this\n    windw: 5s\n"), "r.yaml:11: rules[0].windw: unknown key"},
		{"unknown top-level key", good + "extra: 1\n", "r.yaml:11: extra: unknown key"},
		{"unknown match key", sub("      codes: [replay]\n", "      codes: [replay]\n      cods: [x]\n"), "r.yaml:7: rules[0].match.cods: unknown key"},
		{"unknown code", sub("[replay]", "[replay, replayed]"), "r.yaml:6: rules[0].match.codes[1]: unknown reason code \"replayed\""},
		{"own code", sub("[replay]", "[detection_finding]"), "rules[0].match.codes[0]: \"detection_finding\" is the detection engine's own code"},
		{"bad duration", sub("60s", "60 seconds"), "r.yaml:8: rules[0].window: \"60 seconds\" is not a duration"},
		{"window too long", sub("60s", "48h"), "rules[0].window: must be between"},
		{"threshold zero", sub("threshold: 1", "threshold: 0"), "r.yaml:9: rules[0].threshold: must be between 1"},
		{"threshold as string", sub("threshold: 1", "threshold: \"1\""), "rules[0].threshold: must be an integer"},
		{"duplicate id", good + strings.TrimPrefix(good, "rules:\n"), "r.yaml:11: rules[1].id: duplicate rule id \"r1\" (first at rules[0])"},
		{"duplicate key", sub("    severity: high\n", "    severity: high\n    severity: low\n"), "r.yaml:5: rules[0].severity: duplicate key"},
		{"missing runbook", sub("    runbook: do this\n", ""), "rules[0].runbook: missing"},
		{"unknown severity", sub("severity: high", "severity: severe"), "rules[0].severity: unknown severity"},
		{"unknown grouping", sub("group_by: vehicle", "group_by: fleet"), "rules[0].group_by: unknown grouping"},
		{"unknown class", sub("      codes: [replay]\n", "      class: everything\n"), "rules[0].match.class: unknown event class"},
		{"detection class", sub("      codes: [replay]\n", "      class: detection\n"), "rules[0].match.class: unknown event class \"detection\""},
		{"match everything", sub("      codes: [replay]\n", "      verdict: reject\n"), "rules[0].match: needs codes or a class"},
		{"alias", "x: &a [1]\n" + good + "y: *a\n", "YAML anchors and aliases are not allowed"},
		{"two documents", good + "---\n" + good, "more than one YAML document"},
		{"not yaml", "rules: [", "not YAML"},
		{"empty", "", "the file is empty"},
		{"no rules", "rules: []\n", "r.yaml:1: rules: no rules: to switch detection off"},
		{"oversize", good + strings.Repeat("#", MaxRulesFileBytes), "the file is over"},
		{"id with spaces", sub("id: r1", "id: r 1"), "rules[0].id: must be lowercase"},
		{"except_attrs not scalar", sub("      codes: [replay]\n", "      codes: [replay]\n      except_attrs: {kind: [telemetry]}\n"),
			"rules[0].match.except_attrs.kind: must be a string, an integer or a boolean"},
		{"except_attrs excludes what attrs requires", sub("      codes: [replay]\n", "      codes: [replay]\n      attrs: {kind: telemetry}\n      except_attrs: {kind: telemetry}\n"),
			"rules[0].match.except_attrs.kind: excludes the value attrs requires"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, err := ParseRules([]byte(c.file), "r.yaml")
			if err == nil {
				t.Fatalf("accepted: %+v", set)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, c.want)
			}
		})
	}
}

// TestRulesFileReportsEveryError: all problems at once, so an operator
// fixes a file in one pass.
func TestRulesFileReportsEveryError(t *testing.T) {
	f := `rules:
  - id: a
    description: x
    severity: bad
    match: {codes: [nope]}
    group_by: vehicle
    window: 1
    threshold: 1
    runbook: r
`
	_, err := ParseRules([]byte(f), "f.yaml")
	var es RuleErrors
	if err == nil {
		t.Fatal("accepted")
	}
	es = err.(RuleErrors)
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	for _, want := range []string{"rules[0].severity", "rules[0].match.codes[0]", "rules[0].window"} {
		if !slices.Contains(paths, want) {
			t.Errorf("no error for %s in %v", want, es)
		}
	}
}

// TestDetectionDocMatchesShippedRules: docs/DETECTION.md's table of shipped
// rules and of unwatched codes is generated from rules.yaml and coverage.go
// (go test ./internal/detect -update rewrites it).
func TestDetectionDocMatchesShippedRules(t *testing.T) {
	const path = "../../docs/DETECTION.md"
	const begin, end = "<!-- BEGIN GENERATED: go test ./internal/detect -update -->\n", "<!-- END GENERATED -->\n"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pre, rest, ok1 := strings.Cut(string(doc), begin)
	_, post, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no generated section", path)
	}
	want := pre + begin + renderDocTables() + end + post
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is out of date with rules.yaml or coverage.go: run go test ./internal/detect -update", path)
}

func renderDocTables() string {
	var b strings.Builder
	b.WriteString("\n| rule | severity | safety | counts | per | window | fires at | title |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range Shipped().Rules {
		what := "`" + strings.Join(r.Match.Codes, "`, `") + "`"
		var cond []string
		if r.Match.Verdict != "" {
			cond = append(cond, r.Match.Verdict)
		}
		for _, k := range slices.Sorted(maps.Keys(r.Match.Attrs)) {
			cond = append(cond, k+" = "+r.Match.Attrs[k])
		}
		for _, k := range slices.Sorted(maps.Keys(r.Match.ExceptAttrs)) {
			cond = append(cond, k+" ≠ "+r.Match.ExceptAttrs[k])
		}
		if len(cond) > 0 {
			what += " (" + strings.Join(cond, "; ") + ")"
		}
		safety := ""
		if r.Safety {
			safety = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %v | %d | %s |\n", r.ID, r.Severity, safety, what, r.GroupBy, r.Window, r.Threshold, r.Description)
	}
	b.WriteString("\nCodes of severity low or above that no shipped rule matches, and why:\n\n| code | why not |\n|---|---|\n")
	var un []string
	for c := range Unwatched {
		un = append(un, c)
	}
	slices.Sort(un)
	for _, c := range un {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c, Unwatched[c])
	}
	b.WriteString("\n")
	return b.String()
}

// FuzzParseRules: any bytes give a rule set or errors, never a panic; an
// accepted set keeps every bound, and parsing is deterministic.
func FuzzParseRules(f *testing.F) {
	f.Add(shippedRules)
	f.Add([]byte("rules: []\n"))
	f.Add([]byte("rules:\n  - id: a\n    match: {codes: [replay], attrs: {x: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseRules(data, "f.yaml")
		if err != nil {
			if set != nil || len(err.(RuleErrors)) == 0 {
				t.Fatalf("error %v with set %v", err, set)
			}
			return
		}
		for _, r := range set.Rules {
			if r.Window < MinWindow || r.Window > MaxWindow || r.Threshold < 1 || r.Threshold > MaxThreshold ||
				r.ID == "" || r.Runbook == "" || (len(r.Match.Codes) == 0 && r.Match.Class == "") {
				t.Fatalf("accepted out of bounds: %+v", r)
			}
		}
		again, err := ParseRules(data, "f.yaml")
		if err != nil || again.Hash != set.Hash || len(again.Rules) != len(set.Rules) {
			t.Fatal("not deterministic")
		}
	})
}

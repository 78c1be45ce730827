package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// GroupBy is what a rule counts per: each value of it has its own window.
type GroupBy string

// The groupings. An event that lacks the asked-for identity (a vehicle rule
// and an event about a TLS source) is counted under its subject instead,
// and an event without a subject under the gateway: no event is dropped.
const (
	GroupVehicle  GroupBy = "vehicle"  // the vehicle the event is about (resource, actor, or attrs.vehicle)
	GroupClient   GroupBy = "client"   // the TMS client (resource or actor)
	GroupOperator GroupBy = "operator" // the operator (actor or resource)
	GroupActor    GroupBy = "actor"    // whoever acted, of any kind
	GroupSource   GroupBy = "source"   // the address (IPv4, IPv6 /64) of a peer without a credential
	GroupSubject  GroupBy = "subject"  // the store's subject column: the resource, or else the actor
	GroupGateway  GroupBy = "gateway"  // one window for the whole gateway
)

var groupings = []GroupBy{GroupVehicle, GroupClient, GroupOperator, GroupActor, GroupSource, GroupSubject, GroupGateway}

// matchableClasses are the event classes a rule may name. The detection
// engine's own events (class detection) and the incident manager's are
// never matched, so a finding cannot feed a rule.
var matchableClasses = []event.Class{event.ClassAuthentication, event.ClassAuthorization, event.ClassPKI,
	event.ClassTelemetry, event.ClassLiveness, event.ClassCommand, event.ClassAPI, event.ClassSystem}

// ignoredClasses are never seen by a rule (see matchableClasses).
var ignoredClasses = []string{string(event.ClassDetection), "incident"}

var severities = map[string]codes.Severity{"info": codes.SeverityInfo, "low": codes.SeverityLow,
	"medium": codes.SeverityMedium, "high": codes.SeverityHigh, "critical": codes.SeverityCritical}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Match is which events a rule counts: all conditions set must hold.
type Match struct {
	Codes   []string          // any of these reason codes (empty: any code)
	Class   string            // this event class (empty: any)
	Verdict string            // accept, reject or info (empty: any)
	Attrs   map[string]string // top-level attributes equal to these (strings as is, numbers and booleans as JSON)
	// ExceptAttrs: no top-level attribute equal to one of these (compared
	// as Attrs; an attribute the event lacks equals nothing). It narrows a
	// rule by what normal traffic is known to produce, e.g. frame-stale-
	// counter leaves telemetry's stale_counter, which a correct agent can
	// draw, to frame-stale-telemetry.
	ExceptAttrs map[string]string
}

// Rule is one detection rule.
type Rule struct {
	ID          string
	Description string
	Severity    codes.Severity
	Safety      bool
	Match       Match
	GroupBy     GroupBy
	Window      time.Duration
	Threshold   int64
	Runbook     string
}

// RuleSet is a validated set of rules and where it came from.
type RuleSet struct {
	Rules  []Rule
	Source string // the file's path, or ShippedSource
	Hash   string // SHA-256 of the file's bytes, hex
}

// ShippedSource is the Source of the rules built into the binary.
const ShippedSource = "shipped"

// MaxWindow returns the longest window of the set (0 when empty).
func (s *RuleSet) MaxWindow() time.Duration {
	var w time.Duration
	for _, r := range s.Rules {
		w = max(w, r.Window)
	}
	return w
}

// RuleError is one problem of a rules file, with where it is.
type RuleError struct {
	File string
	Line int    // 0 when unknown (a file that is not YAML at all)
	Path string // e.g. "rules[3].window"
	Msg  string
}

func (e RuleError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// RuleErrors are every problem found in a rules file; ParseRules returns
// them all at once so an operator fixes the file in one pass.
type RuleErrors []RuleError

func (es RuleErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ParseRules reads and validates a rules file; name is how errors call the
// file. Every problem is reported (RuleErrors), each with its line and path:
// unknown or duplicate keys, YAML aliases, values of the wrong type, unknown
// codes, classes, verdicts, severities and groupings, bad durations, bounds,
// duplicate rule ids.
func ParseRules(data []byte, name string) (*RuleSet, error) {
	p := &parser{file: name}
	if len(data) > MaxRulesFileBytes {
		p.add(0, "", fmt.Sprintf("the file is over %d bytes", MaxRulesFileBytes))
		return nil, p.errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(0, "", "the file is empty: it must hold a mapping with the key rules")
		} else {
			p.add(0, "", "not YAML: "+err.Error())
		}
		return nil, p.errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p.add(extra.Line, "", "more than one YAML document")
	}
	set := &RuleSet{Source: name}
	set.Hash = hashOf(data)
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p.noAliases(root, "")
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	rulesSeen := false
	p.mapping(root, "", func(key string, v *yaml.Node) {
		switch key {
		case "rules":
			rulesSeen = true
			if v.Kind != yaml.SequenceNode {
				p.add(v.Line, "rules", "must be a list of rules")
				return
			}
			if len(v.Content) == 0 {
				p.add(v.Line, "rules", "no rules: to switch detection off, set detect.enabled: false")
				return
			}
			if len(v.Content) > MaxRules {
				p.add(v.Line, "rules", fmt.Sprintf("more than %d rules", MaxRules))
				return
			}
			ids := map[string]int{}
			for i, rn := range v.Content {
				path := fmt.Sprintf("rules[%d]", i)
				r, ok := p.rule(rn, path)
				if !ok {
					continue
				}
				if first, dup := ids[r.ID]; dup {
					p.add(rn.Line, path+".id", fmt.Sprintf("duplicate rule id %q (first at rules[%d])", r.ID, first))
					continue
				}
				ids[r.ID] = i
				set.Rules = append(set.Rules, r)
			}
		default:
			p.add(v.Line, key, "unknown key (the file has one key: rules)")
		}
	})
	if !rulesSeen && root.Kind == yaml.MappingNode {
		p.add(root.Line, "rules", "missing")
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return set, nil
}

type parser struct {
	file string
	errs RuleErrors
}

func (p *parser) add(line int, path, msg string) {
	p.errs = append(p.errs, RuleError{File: p.file, Line: line, Path: path, Msg: msg})
}

// noAliases refuses anchors and aliases anywhere: a rules file has no
// use for them, and expansion is a way to make a small file large.
func (p *parser) noAliases(n *yaml.Node, path string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.add(n.Line, path, "YAML anchors and aliases are not allowed")
		return
	}
	for _, c := range n.Content {
		p.noAliases(c, path)
	}
}

// mapping calls f for each key of the mapping n, refusing other kinds,
// non-string keys and duplicate keys.
func (p *parser) mapping(n *yaml.Node, path string, f func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, path, "must be a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			p.add(k.Line, kp, "keys must be strings")
			continue
		}
		if seen[k.Value] {
			p.add(k.Line, kp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		f(k.Value, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) str(n *yaml.Node, path string, maxBytes int) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.add(n.Line, path, "must be a string")
		return "", false
	}
	if len(n.Value) > maxBytes {
		p.add(n.Line, path, fmt.Sprintf("longer than %d bytes", maxBytes))
		return "", false
	}
	return n.Value, true
}

func (p *parser) rule(n *yaml.Node, path string) (Rule, bool) {
	var r Rule
	before := len(p.errs)
	seen := map[string]bool{}
	p.mapping(n, path, func(key string, v *yaml.Node) {
		kp := join(path, key)
		seen[key] = true
		switch key {
		case "id":
			if s, ok := p.str(v, kp, MaxIDBytes); ok {
				if !idPattern.MatchString(s) {
					p.add(v.Line, kp, "must be lowercase letters, digits and '-', starting with a letter or digit")
				}
				r.ID = s
			}
		case "description":
			if s, ok := p.str(v, kp, MaxDescriptionBytes); ok {
				if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\r\n") {
					p.add(v.Line, kp, "must be one non-empty line")
				}
				r.Description = s
			}
		case "severity":
			if s, ok := p.str(v, kp, 16); ok {
				sev, known := severities[s]
				if !known {
					p.add(v.Line, kp, fmt.Sprintf("unknown severity %q: info, low, medium, high or critical", s))
				}
				r.Severity = sev
			}
		case "safety":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				p.add(v.Line, kp, "must be true or false")
				return
			}
			r.Safety, _ = strconv.ParseBool(strings.ToLower(v.Value))
		case "match":
			r.Match = p.match(v, kp)
		case "group_by":
			if s, ok := p.str(v, kp, 16); ok {
				if !slices.Contains(groupings, GroupBy(s)) {
					p.add(v.Line, kp, fmt.Sprintf("unknown grouping %q: one of %v", s, groupings))
				}
				r.GroupBy = GroupBy(s)
			}
		case "window":
			if s, ok := p.str(v, kp, 32); ok {
				d, err := time.ParseDuration(s)
				switch {
				case err != nil:
					p.add(v.Line, kp, fmt.Sprintf("%q is not a duration (e.g. 60s, 10m, 1h)", s))
				case d < MinWindow || d > MaxWindow:
					p.add(v.Line, kp, fmt.Sprintf("must be between %v and %v", MinWindow, MaxWindow))
				}
				r.Window = d
			}
		case "threshold":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				p.add(v.Line, kp, "must be an integer")
				return
			}
			t, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil || t < 1 || t > MaxThreshold {
				p.add(v.Line, kp, fmt.Sprintf("must be between 1 and %d", MaxThreshold))
				return
			}
			r.Threshold = t
		case "runbook":
			if s, ok := p.str(v, kp, MaxRunbookBytes); ok {
				if strings.TrimSpace(s) == "" {
					p.add(v.Line, kp, "must not be empty: say what the responder does")
				}
				r.Runbook = strings.TrimSpace(s)
			}
		default:
			p.add(v.Line, kp, "unknown key")
		}
	})
	if n.Kind == yaml.MappingNode {
		for _, k := range []string{"id", "description", "severity", "match", "group_by", "window", "threshold", "runbook"} {
			if !seen[k] {
				p.add(n.Line, join(path, k), "missing")
			}
		}
	}
	return r, len(p.errs) == before
}

func (p *parser) match(n *yaml.Node, path string) Match {
	var m Match
	codesGiven := false
	p.mapping(n, path, func(key string, v *yaml.Node) {
		kp := join(path, key)
		switch key {
		case "codes":
			codesGiven = true
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				p.add(v.Line, kp, "must be a non-empty list of reason codes")
				return
			}
			if len(v.Content) > MaxCodesPerRule {
				p.add(v.Line, kp, fmt.Sprintf("more than %d codes", MaxCodesPerRule))
				return
			}
			for i, c := range v.Content {
				cp := fmt.Sprintf("%s[%d]", kp, i)
				s, ok := p.str(c, cp, 64)
				if !ok {
					continue
				}
				e, known := codes.Lookup(s)
				switch {
				case !known:
					p.add(c.Line, cp, fmt.Sprintf("unknown reason code %q (docs/PROTOCOL.md lists them)", s))
				case e.Area == codes.AreaDetection:
					p.add(c.Line, cp, fmt.Sprintf("%q is the detection engine's own code: rules never see its events", s))
				case slices.Contains(m.Codes, s):
					p.add(c.Line, cp, fmt.Sprintf("%q listed twice", s))
				default:
					m.Codes = append(m.Codes, s)
				}
			}
		case "class":
			if s, ok := p.str(v, kp, 32); ok {
				if !slices.Contains(matchableClasses, event.Class(s)) {
					p.add(v.Line, kp, fmt.Sprintf("unknown event class %q: one of %v", s, matchableClasses))
				}
				m.Class = s
			}
		case "verdict":
			if s, ok := p.str(v, kp, 16); ok {
				switch event.Verdict(s) {
				case event.Accept, event.Reject, event.Info:
				default:
					p.add(v.Line, kp, fmt.Sprintf("unknown verdict %q: accept, reject or info", s))
				}
				m.Verdict = s
			}
		case "attrs":
			m.Attrs = p.attrs(v, kp)
		case "except_attrs":
			m.ExceptAttrs = p.attrs(v, kp)
		default:
			p.add(v.Line, kp, "unknown key (codes, class, verdict, attrs, except_attrs)")
		}
	})
	if n.Kind == yaml.MappingNode && !codesGiven && m.Class == "" {
		p.add(n.Line, path, "needs codes or a class: a rule matching every event is a flood, not a detection")
	}
	for _, k := range slices.Sorted(maps.Keys(m.ExceptAttrs)) {
		if w, ok := m.Attrs[k]; ok && w == m.ExceptAttrs[k] {
			p.add(n.Line, join(path, "except_attrs."+k), "excludes the value attrs requires: the rule matches nothing")
		}
	}
	return m
}

// attrs parses a match's attribute map (attrs, except_attrs): at most
// MaxAttrsPerRule, each value a string, an integer or a boolean. Nil when
// it is refused.
func (p *parser) attrs(v *yaml.Node, kp string) map[string]string {
	if v.Kind == yaml.MappingNode && len(v.Content)/2 > MaxAttrsPerRule {
		p.add(v.Line, kp, fmt.Sprintf("more than %d attributes", MaxAttrsPerRule))
		return nil
	}
	m := map[string]string{}
	p.mapping(v, kp, func(ak string, av *yaml.Node) {
		ap := join(kp, ak)
		if av.Kind != yaml.ScalarNode || (av.Tag != "!!str" && av.Tag != "!!int" && av.Tag != "!!bool") {
			p.add(av.Line, ap, "must be a string, an integer or a boolean")
			return
		}
		val := av.Value
		if av.Tag == "!!bool" {
			val = strings.ToLower(val)
		}
		m[ak] = val
	})
	return m
}

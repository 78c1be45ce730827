package main

import (
	"reflect"
	"testing"
)

// TestParseAccessInput: what the CLI accepts for roles, source ranges and
// hours, in its normalized form, and what it refuses.
func TestParseAccessInput(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{",", nil, true},
		{"planner", []string{"planner"}, true},
		{"auditor, approver ,planner,approver", []string{"planner", "approver", "auditor"}, true},
		{"Planner", nil, false}, // exact names only
		{"planner,admin", nil, false},
		{"planner;dispatcher", nil, false},
	} {
		got, err := parseRoles(c.in)
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseRoles(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}

	for _, c := range []struct {
		name string
		in   []string
		want []string
		ok   bool
	}{
		{"none", nil, nil, true},
		{"host bits are masked", []string{"192.0.2.77/24"}, []string{"192.0.2.0/24"}, true},
		{"duplicates after masking collapse, sorted", []string{"2001:db8::1/32", "10.1.2.3/8", "10.0.0.0/8"}, []string{"10.0.0.0/8", "2001:db8::/32"}, true},
		{"IPv4-mapped IPv6 is unmapped", []string{"::ffff:192.0.2.0/120"}, []string{"192.0.2.0/24"}, true},
		{"a bare address is refused", []string{"192.0.2.7"}, nil, false},
		{"an out-of-range octet is refused", []string{"256.0.0.0/8"}, nil, false},
		{"a prefix longer than the address is refused", []string{"192.0.2.0/33"}, nil, false},
		{"a zone is refused", []string{"fe80::1%eth0/64"}, nil, false},
		{"a hostname is refused", []string{"example.com/24"}, nil, false},
		{"too many ranges", make([]string, maxAllowedSources+1), nil, false},
	} {
		got, err := parseSources(c.in)
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: parseSources(%q) = %v, %v; want %v ok=%v", c.name, c.in, got, err, c.want, c.ok)
		}
	}

	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"any", "", true},
		{"06:00-20:00", "06:00-20:00", true},
		{"22:00-06:00", "22:00-06:00", true}, // across midnight
		{"00:00-23:59", "00:00-23:59", true},
		{"06:00-06:00", "", false}, // empty or whole day: ambiguous
		{"24:00-06:00", "", false},
		{"06:60-07:00", "", false},
		{"6:00-20:00", "", false},
		{"06:00 - 20:00", "", false},
		{"06:00-20:00-21:00", "", false},
		{"+6:00-20:00", "", false},
		{"０6:00-20:00", "", false}, // a fullwidth digit
	} {
		got, err := parseHours(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseHours(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

package principal

import "testing"

func TestParseURI(t *testing.T) {
	good := map[string]Principal{
		"urn:fifthwheel:vehicle:TRK-0001":   {Vehicle, "TRK-0001"},
		"urn:fifthwheel:client:acme.tms":    {Client, "acme.tms"},
		"urn:fifthwheel:operator:alice_ops": {Operator, "alice_ops"},
	}
	for in, want := range good {
		got, err := ParseURI(in)
		if err != nil || got != want {
			t.Errorf("ParseURI(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("round trip %q -> %q", in, got.String())
		}
	}
	bad := map[string]string{
		"case_mismatch_prefix": "URN:fifthwheel:vehicle:T1",
		"case_mismatch_kind":   "urn:fifthwheel:Vehicle:T1",
		"unknown_kind":         "urn:fifthwheel:truck:T1",
		"system_kind":          "urn:fifthwheel:system:gw",
		"empty_id":             "urn:fifthwheel:vehicle:",
		"path_traversal":       "urn:fifthwheel:vehicle:../x",
		"nested_colon":         "urn:fifthwheel:vehicle:a:b",
		"nul_byte":             "urn:fifthwheel:vehicle:a\x00b",
		"overlong_id":          "urn:fifthwheel:vehicle:" + string(make([]byte, MaxIDLen+1)),
		"leading_dot":          "urn:fifthwheel:vehicle:.hidden",
		"other_scheme":         "spiffe://fleet/vehicle/T1",
	}
	for name, in := range bad {
		if p, err := ParseURI(in); err == nil {
			t.Errorf("%s: ParseURI(%q) accepted as %v", name, in, p)
		}
	}
}

package webhook

import (
	"net/netip"
	"testing"
)

func TestGlobalUnicast(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "2002:a00:1::": false, "198.18.0.1": false,
	} {
		if got := globalUnicast(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://tms.example.com/hooks/fifthwheel": true,
		"https://tms.example.com:8443/h?x=1":       true,
		"http://tms.example.com/h":                 false,
		"https://user:pw@tms.example.com/h":        false,
		"https:///nohost":                          false,
		"ftp://tms.example.com":                    false,
		"https://tms.example.com/h#frag":           false,
		"tms.example.com/h":                        false,
		"":                                         false,
	} {
		if err := ValidateURL(u); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", u, err, ok)
		}
	}
}

// TestSignVector: a fixed vector, cross-checked with Python's hmac module
// running the recipe of docs/OPERATIONS.md "Webhooks", for receivers in
// other languages.
func TestSignVector(t *testing.T) {
	got := Sign([]byte("0123456789abcdef0123456789abcdef"), "42", "1764936000", []byte(`{"a":1}`))
	if want := "v1=6a326276916a8e72b2599446f06dfb27c07dfcf0f3099dc13395e4b300750ccd"; got != want {
		t.Fatalf("Sign: %s, want %s", got, want)
	}
}

package forensics

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// FuzzVerify: any bytes as a bundle never panic Verify, and what it
// verifies is only the seed bundle's own bytes.
func FuzzVerify(f *testing.F) {
	fx, b, _ := attackedVehicle(f, storetest.Engines()[0])
	f.Add(b)
	f.Add([]byte{0x1f, 0x8b})
	v := fx.key.Verifier()
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Verify(in, v, nil)
		if r.OK() {
			if _, err := Contents(in); err != nil {
				t.Fatalf("verified a bundle that does not read: %v", err)
			}
		}
	})
}

// FuzzManifest: a manifest that parses re-encodes to exactly its text, so
// no two texts mean one manifest.
func FuzzManifest(f *testing.F) {
	_, b, _ := attackedVehicle(f, storetest.Engines()[0])
	files, err := Contents(b)
	if err != nil {
		f.Fatal(err)
	}
	signed := string(files[manifestPath])
	f.Add(signed[:len(signed)-len(signed[indexSigs(signed):])])
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseManifest(text)
		if err != nil {
			return
		}
		if got := m.encode(); got != text {
			t.Fatalf("parsed and re-encoded:\n%q\nwas\n%q", got, text)
		}
	})
}

// indexSigs is where a signed note's signature block starts (after the
// blank line).
func indexSigs(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\n' && s[i+1] == '\n' {
			return i + 1
		}
	}
	return len(s)
}

package frame

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate the golden vectors in testdata/frames")

// The golden vectors published for other implementations:
// testdata/frames/manifest.json lists every file with its expected verdict
// and reason code, the TEST-ONLY keys, and key-registration cases.

type goldenManifest struct {
	Comment         []string         `json:"comment"`
	Keys            []goldenKey      `json:"keys"`
	Envelopes       []goldenEnvelope `json:"envelopes"`
	KeyRegistration []goldenKeyReg   `json:"key_registration"`
}

type goldenKey struct {
	KID        string `json:"kid"`
	Alg        Alg    `json:"alg"`
	Derivation string `json:"derivation"`
	PrivateHex string `json:"private_hex_TEST_ONLY"`
	PublicHex  string `json:"public_hex,omitempty"`
	PublicPEM  string `json:"public_pem,omitempty"`
}

type goldenEnvelope struct {
	File        string `json:"file"`
	Verdict     string `json:"verdict"`
	Code        Code   `json:"code,omitempty"`
	Description string `json:"description"`
}

type goldenKeyReg struct {
	Alg         Alg    `json:"alg"`
	KeyHex      string `json:"key_hex,omitempty"`
	KeyPEM      string `json:"key_pem,omitempty"`
	Verdict     string `json:"verdict"`
	Code        Code   `json:"code,omitempty"`
	Description string `json:"description"`
}

const (
	verdictAccepted = "accepted"
	verdictRejected = "rejected"
	verdictRefused  = "refused"
)

func pemPublic(t testing.TB, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// buildGolden makes the manifest and files. old holds the files on disk:
// an ES256 vector is kept from there if it still verifies over the same
// frame bytes, since ECDSA signatures are randomized.
func buildGolden(t testing.TB, k *testKeys, old map[string][]byte) (*goldenManifest, map[string][]byte) {
	t.Helper()
	m := &goldenManifest{Comment: []string{
		"fifthwheel frame golden vectors; see docs/PROTOCOL.md and README.md here.",
		"Every key below is TEST-ONLY, derived from a public label: never use it outside tests.",
		"An envelope is accepted when ParseEnvelope, verification with the key listed under its kid, and DecodeFrame all succeed; otherwise it is rejected with exactly the code given.",
		"Regenerate with: go test ./frame -run TestGolden -update",
	}}
	files := map[string][]byte{}

	edPub := k.ed.Public().Bytes()
	esPub := k.es.Public().Bytes()
	esPriv := testES256Priv(t)
	m.Keys = []goldenKey{
		{KID: testKIDEd25519, Alg: AlgEd25519,
			Derivation: `seed = SHA-256("fifthwheel/frame TEST-ONLY Ed25519 key 1"); RFC 8032 key from seed`,
			PrivateHex: hex.EncodeToString(testSeed("Ed25519 key 1")),
			PublicHex:  hex.EncodeToString(edPub), PublicPEM: pemPublic(t, testEd25519Priv().Public())},
		{KID: testKIDES256, Alg: AlgES256,
			Derivation: `d = SHA-256("fifthwheel/frame TEST-ONLY ES256 key 1") as a big-endian P-256 scalar`,
			PrivateHex: hex.EncodeToString(testSeed("ES256 key 1")),
			PublicHex:  hex.EncodeToString(esPub), PublicPEM: pemPublic(t, &esPriv.PublicKey)},
		{KID: testKIDHS256, Alg: AlgHS256,
			Derivation: `secret = SHA-256("fifthwheel/frame TEST-ONLY HS256 key 1"), 32 raw bytes`,
			PrivateHex: hex.EncodeToString(testHS256Secret())},
	}

	addValid := func(file, desc string, env []byte) {
		files[file] = env
		m.Envelopes = append(m.Envelopes, goldenEnvelope{File: file, Verdict: verdictAccepted, Description: desc})
	}
	bodies := sampleBodies()
	names := make([]string, 0, len(bodies))
	for n := range bodies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		desc := "Ed25519, kind " + string(bodies[n].Kind())
		if tm, ok := bodies[n].Body.(*Telemetry); ok && len(tm.Ext) > 0 {
			desc += ", with an ext nesting 5 deep (MaxExtDepth) whose names and strings hold escapes, non-ASCII (sorted by UTF-16 code units: U+1F600 before U+FF61), " +
				"markup, U+2028, DEL and a noncharacter, written as RFC 8785 writes them"
		}
		addValid("valid/ed25519-"+strings.ReplaceAll(n, "_", "-")+".json", desc, k.signedEnv(t, bodies[n]))
	}
	addValid("valid/ed25519-telemetry-faults.json", "Ed25519 telemetry of 578 frame bytes with 14 active faults (the benchmark frame)", k.signedEnv(t, benchTelemetry()))
	{
		f := maximalTelemetry()
		f.Body.(*Telemetry).Ext = maximalExt(t)
		addValid("valid/ed25519-telemetry-ext-max.json", "Ed25519 telemetry at every bound: a 64-character vehicle_id, 32 faults of 32 characters, the longest number forms, "+
			"and an ext of exactly 12,288 bytes (MaxExtSize) nesting 5 deep (MaxExtDepth)", k.signedEnv(t, f))
	}
	{
		env, err := Sign(k.hs, testKIDHS256, sampleTelemetry())
		if err != nil {
			t.Fatal(err)
		}
		addValid("valid/hs256-telemetry.json", "HS256 (lower assurance), telemetry", env)
	}
	{
		const file = "valid/es256-telemetry.json"
		fb := sampleFrameBytes(t)
		env := old[file]
		if e, err := ParseEnvelope(env); err != nil || !bytes.Equal(e.Frame(), fb) || e.Verify(k.es.Public()) != nil {
			env, err = Sign(k.es, testKIDES256, sampleTelemetry())
			if err != nil {
				t.Fatal(err)
			}
		}
		addValid(file, "ES256 (P-256, P1363 r||s), telemetry; ECDSA signatures are randomized, so this one is stored, not regenerated", env)
	}
	{
		// The envelope need not be canonical: whitespace and member order
		// are free outside the frame member.
		env := k.signedEnv(t, sampleTelemetry())
		e, _ := ParseEnvelope(env)
		loose := fmt.Sprintf("{\n  \"sig\": %q,\n  \"kid\": %q,\n  \"alg\": %q,\n  \"frame\": %s\n}\n",
			base64URL(e.Sig), e.KID, e.Alg, e.Frame())
		addValid("valid/ed25519-envelope-not-canonical.json", "Ed25519; the envelope has whitespace and another member order (allowed), the frame member is canonical", []byte(loose))
	}

	for _, r := range refusals() {
		if r.golden == "" {
			continue
		}
		file := "invalid/" + r.golden + ".bin"
		if _, dup := files[file]; dup {
			t.Fatalf("two refusal rows publish %s", file)
		}
		files[file] = r.env(t, k)
		m.Envelopes = append(m.Envelopes, goldenEnvelope{File: file, Verdict: verdictRejected, Code: r.code, Description: r.name})
	}

	for _, name := range sortedKeys(refusedEd25519Keys(t)) {
		m.KeyRegistration = append(m.KeyRegistration, goldenKeyReg{Alg: AlgEd25519,
			KeyHex: hex.EncodeToString(refusedEd25519Keys(t)[name]), Verdict: verdictRefused, Code: CodeBadKey, Description: "Ed25519 public key: " + name})
	}
	p384, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), append(testSeed("P-384 key"), testSeed("P-384 key")[:16]...))
	if err != nil {
		t.Fatal(err)
	}
	offCurve := bytes.Clone(esPub)
	offCurve[64] ^= 1
	m.KeyRegistration = append(m.KeyRegistration,
		goldenKeyReg{Alg: AlgES256, KeyPEM: pemPublic(t, &p384.PublicKey), Verdict: verdictRefused, Code: CodeBadKey, Description: "ES256 with a P-384 key"},
		goldenKeyReg{Alg: AlgES256, KeyHex: hex.EncodeToString(offCurve), Verdict: verdictRefused, Code: CodeBadKey, Description: "ES256 uncompressed point not on P-256"},
		goldenKeyReg{Alg: AlgHS256, KeyHex: hex.EncodeToString(testHS256Secret()[:31]), Verdict: verdictRefused, Code: CodeBadKey, Description: "HS256 secret of 31 bytes"},
		goldenKeyReg{Alg: AlgHS256, KeyHex: hex.EncodeToString(bytes.Repeat(testHS256Secret(), 3)[:65]), Verdict: verdictRefused, Code: CodeBadKey, Description: "HS256 secret of 65 bytes"},
		goldenKeyReg{Alg: AlgHS256, KeyHex: hex.EncodeToString(bytes.Repeat(testHS256Secret(), 2)), Verdict: "accepted", Description: "HS256 secret of 64 bytes"},
		goldenKeyReg{Alg: AlgEd25519, KeyHex: hex.EncodeToString(edPub), Verdict: "accepted", Description: "the TEST-ONLY Ed25519 key"},
		goldenKeyReg{Alg: AlgES256, KeyHex: hex.EncodeToString(esPub), Verdict: "accepted", Description: "the TEST-ONLY ES256 key"},
	)
	return m, files
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func encodeManifest(t testing.TB, m *goldenManifest) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readGoldenFiles(t testing.TB, dir string) map[string][]byte {
	out := map[string][]byte{}
	for _, sub := range []string{"valid", "invalid"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			out[sub+"/"+e.Name()] = readFile(t, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

func writeGolden(t testing.TB, dir string, m *goldenManifest, files map[string][]byte) {
	for _, sub := range []string{"valid", "invalid"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), encodeManifest(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden checks every published vector against its manifest entry,
// using only the public material in the manifest (as another
// implementation would), and checks that the vectors are up to date.
func TestGolden(t *testing.T) {
	k := newTestKeys(t)
	dir := goldenDir(t)
	if *update {
		m, files := buildGolden(t, k, readGoldenFiles(t, dir))
		writeGolden(t, dir, m, files)
	}

	var m goldenManifest
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "manifest.json")), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	byKID := map[string]Verifier{}
	for _, gk := range m.Keys {
		var v Verifier
		var err error
		switch gk.Alg {
		case AlgEd25519, AlgES256:
			v, err = ParsePublicKeyPEM(gk.Alg, []byte(gk.PublicPEM))
		case AlgHS256:
			b, _ := hex.DecodeString(gk.PrivateHex)
			v, err = NewHS256Key(b)
		}
		if err != nil {
			t.Fatalf("manifest key %s: %v", gk.KID, err)
		}
		byKID[gk.KID] = v
	}
	seenCodes := map[Code]bool{}
	for _, ge := range m.Envelopes {
		b := readFile(t, filepath.Join(dir, filepath.FromSlash(ge.File)))
		err := func() error {
			env, err := ParseEnvelope(b)
			if err != nil {
				return err
			}
			v, ok := byKID[env.KID]
			if !ok {
				return &Error{Code: CodeUnknownKID}
			}
			if err := env.Verify(v); err != nil {
				return err
			}
			_, err = env.DecodeFrame()
			return err
		}()
		switch ge.Verdict {
		case verdictAccepted:
			if err != nil {
				t.Errorf("%s: want accepted, got %v", ge.File, err)
			}
		case verdictRejected:
			if CodeOf(err) != ge.Code {
				t.Errorf("%s: want %s, got %v", ge.File, ge.Code, err)
			}
			seenCodes[ge.Code] = true
		default:
			t.Errorf("%s: unknown verdict %q", ge.File, ge.Verdict)
		}
	}
	for _, kr := range m.KeyRegistration {
		var err error
		var raw []byte
		if kr.KeyHex != "" {
			raw, _ = hex.DecodeString(kr.KeyHex)
		}
		switch {
		case kr.KeyPEM != "":
			_, err = ParsePublicKeyPEM(kr.Alg, []byte(kr.KeyPEM))
		case kr.Alg == AlgEd25519:
			_, err = NewEd25519PublicKey(raw)
		case kr.Alg == AlgES256:
			_, err = newES256PublicKeyBytes(raw)
		case kr.Alg == AlgHS256:
			_, err = NewHS256Key(raw)
		}
		if kr.Verdict == verdictRefused {
			if CodeOf(err) != kr.Code {
				t.Errorf("key registration %q: want %s, got %v", kr.Description, kr.Code, err)
			}
			seenCodes[kr.Code] = true
		} else if err != nil {
			t.Errorf("key registration %q: want accepted, got %v", kr.Description, err)
		}
	}
	for _, c := range allCodes(t) {
		if !seenCodes[c] {
			t.Errorf("no golden vector for reason code %s", c)
		}
	}

	// Up to date: what the code generates now is what is published.
	want, wantFiles := buildGolden(t, k, readGoldenFiles(t, dir))
	if !bytes.Equal(encodeManifest(t, want), readFile(t, filepath.Join(dir, "manifest.json"))) {
		t.Errorf("manifest.json is out of date: run go test ./frame -run TestGolden -update")
	}
	have := readGoldenFiles(t, dir)
	for name, b := range wantFiles {
		if !bytes.Equal(have[name], b) {
			t.Errorf("%s is out of date: run go test ./frame -run TestGolden -update", name)
		}
	}
	for name := range have {
		if _, ok := wantFiles[name]; !ok {
			t.Errorf("%s is not generated any more: run go test ./frame -run TestGolden -update", name)
		}
	}
}

// allCodes lists every Code constant declared in errors.go, so that a new
// code cannot be added without a golden vector and a PROTOCOL.md entry.
func allCodes(t testing.TB) []Code {
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []Code
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, Code(s))
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d codes in errors.go", len(out))
	}
	return out
}

// TestProtocolDocNamesEveryCode: docs/PROTOCOL.md documents every code.
func TestProtocolDocNamesEveryCode(t *testing.T) {
	doc := string(readFile(t, filepath.Join(repoRoot(t), "docs", "PROTOCOL.md")))
	for _, c := range allCodes(t) {
		if !strings.Contains(doc, "| `"+string(c)+"` |") {
			t.Errorf("docs/PROTOCOL.md has no table row for reason code %s", c)
		}
	}
	codes := allCodes(t)
	if len(slices.Compact(slices.Sorted(slices.Values(codes)))) != len(codes) {
		t.Error("two Code constants share a value")
	}
}

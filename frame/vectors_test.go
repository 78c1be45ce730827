package frame

// Outside vectors, consumed as-is from ../shared/testvectors: RFC 8785
// samples and number table, Project Wycheproof Ed25519, ECDSA P-256 (P1363
// and DER) and HMAC-SHA256.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestJCSVectors(t *testing.T) {
	inDir := vectors(t, "jcs/input")
	names, err := filepath.Glob(filepath.Join(inDir, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no RFC 8785 input vectors in %s", inDir)
	}
	for _, in := range names {
		base := filepath.Base(in)
		t.Run(base, func(t *testing.T) {
			input := readFile(t, in)
			want := readFile(t, vectors(t, "jcs/output/"+base))
			hexText := readFile(t, vectors(t, "jcs/outhex/"+strings.TrimSuffix(base, ".json")+".txt"))
			wantHex, err := hex.DecodeString(strings.Join(strings.Fields(string(hexText)), ""))
			if err != nil {
				t.Fatalf("outhex: %v", err)
			}
			if !bytes.Equal(want, wantHex) {
				t.Fatalf("output and outhex vectors disagree")
			}
			got, err := canonicalize(input)
			if err != nil {
				t.Fatalf("canonicalize: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("canonical form differs:\n got %s\nwant %s", got, want)
			}
			// The canonical check accepts the output and refuses the
			// (differently formatted) input.
			if err := checkCanonical(want); err != nil {
				t.Errorf("checkCanonical(output) = %v", err)
			}
			if !bytes.Equal(input, want) {
				if err := checkCanonical(input); CodeOf(err) != CodeNotCanonical {
					t.Errorf("checkCanonical(input) = %v, want not_canonical", err)
				}
			}
		})
	}
}

// TestJCSNumbers runs all rows of numbers-es6.txt: our number encoder gives
// the expected text, the canonical check accepts that text as a number, and
// the text reads back to the same double.
func TestJCSNumbers(t *testing.T) {
	f, err := os.Open(vectors(t, "jcs/numbers-es6.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows, bad := 0, 0
	for sc.Scan() {
		line := sc.Text()
		hexBits, want, ok := strings.Cut(line, ",")
		if !ok {
			t.Fatalf("malformed row %q", line)
		}
		var bits [8]byte
		if _, err := hex.Decode(bits[:], []byte(hexBits)); err != nil {
			t.Fatalf("malformed row %q", line)
		}
		rows++
		v := math.Float64frombits(binary.BigEndian.Uint64(bits[:]))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("row %q: non-finite values have no JCS form; the table should not hold them", line)
		}
		got := string(appendNumber(nil, v))
		if got != want {
			bad++
			if bad <= 10 {
				t.Errorf("number %s: got %s, want %s", hexBits, got, want)
			}
			continue
		}
		if err := checkCanonical([]byte(want)); err != nil {
			t.Errorf("checkCanonical(%s) = %v", want, err)
		}
		back, err := strconv.ParseFloat(want, 64)
		if err != nil || (back != v && !(v == 0 && back == 0)) {
			t.Errorf("%s reads back as %v, want %v", want, back, v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 100000 {
		t.Fatalf("read %d rows of numbers-es6.txt, want 100000", rows)
	}
	if bad > 0 {
		t.Fatalf("%d of %d numbers differ", bad, rows)
	}
}

// Wycheproof files: testGroups[].tests[] with result valid, invalid or
// acceptable.
type wycheproofFile struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		KeySize   int `json:"keySize"`
		TagSize   int `json:"tagSize"`
		PublicKey struct {
			PK           string `json:"pk"`
			Uncompressed string `json:"uncompressed"`
			Curve        string `json:"curve"`
		} `json:"publicKey"`
		SHA   string `json:"sha"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Key     string   `json:"key"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Tag     string   `json:"tag"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string) *wycheproofFile {
	t.Helper()
	var w wycheproofFile
	if err := json.Unmarshal(readFile(t, vectors(t, "wycheproof/"+name)), &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &w
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tally counts outcomes and checks each: valid accepted, invalid refused,
// acceptable recorded either way.
type tally struct {
	valid, invalid                        int
	acceptableAccepted, acceptableRefused int
}

func (c *tally) check(t *testing.T, tcID int, comment, result string, err error) {
	t.Helper()
	switch result {
	case "valid":
		c.valid++
		if err != nil {
			t.Errorf("tc%d (%s): valid, refused: %v", tcID, comment, err)
		}
	case "invalid":
		c.invalid++
		if err == nil {
			t.Errorf("tc%d (%s): invalid, accepted", tcID, comment)
		} else if CodeOf(err) != CodeBadSignature {
			t.Errorf("tc%d (%s): refused with %v, want bad_signature", tcID, comment, err)
		}
	case "acceptable":
		if err == nil {
			c.acceptableAccepted++
		} else {
			c.acceptableRefused++
		}
		t.Logf("tc%d (%s): acceptable, accepted=%v", tcID, comment, err == nil)
	default:
		t.Fatalf("tc%d: unknown result %q", tcID, result)
	}
}

func (c *tally) log(t *testing.T, what string) {
	t.Logf("%s: %d valid accepted, %d invalid refused, %d acceptable (%d accepted, %d refused)",
		what, c.valid, c.invalid, c.acceptableAccepted+c.acceptableRefused, c.acceptableAccepted, c.acceptableRefused)
}

func TestWycheproofEd25519(t *testing.T) {
	w := loadWycheproof(t, "ed25519_test.json")
	var c tally
	var batch BatchVerifier
	var mixed BatchVerifier
	var mixedWant []error
	for _, g := range w.TestGroups {
		k, err := NewEd25519PublicKey(unhex(t, g.PublicKey.PK))
		if err != nil {
			t.Fatalf("Wycheproof key %s refused: %v", g.PublicKey.PK, err)
		}
		for _, tc := range g.Tests {
			msg, sig := unhex(t, tc.Msg), unhex(t, tc.Sig)
			err := k.Verify(msg, sig)
			c.check(t, tc.TcID, tc.Comment, tc.Result, err)
			if tc.Result == "valid" {
				batch.add(batchItem{v: k, frame: msg, sig: sig})
			}
			mixed.add(batchItem{v: k, frame: msg, sig: sig})
			mixedWant = append(mixedWant, err)
		}
	}
	c.log(t, "Wycheproof Ed25519")
	if c.valid+c.invalid != 151 {
		t.Errorf("ran %d cases, want 151", c.valid+c.invalid)
	}

	// A batch of every valid case verifies in one batch equation.
	n := batch.Len()
	for i, err := range batch.Verify() {
		if err != nil {
			t.Errorf("batch of all %d valid cases: item %d refused: %v", n, i, err)
		}
	}
	// A batch of every case gives, per item, the single-path verdict.
	for i, err := range mixed.Verify() {
		if (err == nil) != (mixedWant[i] == nil) {
			t.Errorf("batch item %d: batch says %v, single path says %v", i, err, mixedWant[i])
		}
	}
}

func TestWycheproofES256P1363(t *testing.T) {
	w := loadWycheproof(t, "ecdsa_secp256r1_sha256_p1363_test.json")
	var c tally
	for _, g := range w.TestGroups {
		if g.PublicKey.Curve != "secp256r1" || g.SHA != "SHA-256" {
			t.Fatalf("unexpected group %s/%s", g.PublicKey.Curve, g.SHA)
		}
		k := wycheproofES256Key(t, g.PublicKey.Uncompressed)
		for _, tc := range g.Tests {
			c.check(t, tc.TcID, tc.Comment, tc.Result, k.Verify(unhex(t, tc.Msg), unhex(t, tc.Sig)))
		}
	}
	c.log(t, "Wycheproof ECDSA P-256 P1363")
}

// TestWycheproofES256DER runs the DER vectors through the signer's DER to
// P1363 conversion (what an ES256Signer does with a secure element's
// output) and then the P1363 verifier: every valid signature survives the
// conversion and verifies, every invalid one is refused at one step or the
// other.
func TestWycheproofES256DER(t *testing.T) {
	w := loadWycheproof(t, "ecdsa_secp256r1_sha256_test.json")
	var c tally
	refusedByDER := 0
	for _, g := range w.TestGroups {
		k := wycheproofES256Key(t, g.PublicKey.Uncompressed)
		for _, tc := range g.Tests {
			sig, err := derToP1363(unhex(t, tc.Sig))
			if err != nil {
				refusedByDER++
				err = &Error{Code: CodeBadSignature, Detail: err.Error()}
			} else {
				err = k.Verify(unhex(t, tc.Msg), sig)
			}
			c.check(t, tc.TcID, tc.Comment, tc.Result, err)
		}
	}
	c.log(t, "Wycheproof ECDSA P-256 DER")
	t.Logf("%d refused by the strict DER conversion, the rest by verification", refusedByDER)
}

func wycheproofES256Key(t *testing.T, uncompressedHex string) *ES256PublicKey {
	t.Helper()
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), unhex(t, uncompressedHex))
	if err != nil {
		t.Fatalf("Wycheproof key: %v", err)
	}
	k, err := NewES256PublicKey(pub)
	if err != nil {
		t.Fatalf("Wycheproof key refused: %v", err)
	}
	return k
}

// TestWycheproofHMAC runs the HMAC-SHA256 vectors. Our HS256 policy takes
// 32..64-byte secrets and full 256-bit tags only. Groups within the policy
// must match Wycheproof exactly; in the others every case, valid or not,
// must be refused (key refused at registration, or truncated tag refused),
// and the counts are recorded.
func TestWycheproofHMAC(t *testing.T) {
	w := loadWycheproof(t, "hmac_sha256_test.json")
	var c tally
	keyRefused, truncRefused := 0, 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			key, msg, tag := unhex(t, tc.Key), unhex(t, tc.Msg), unhex(t, tc.Tag)
			k, err := NewHS256Key(key)
			inPolicy := len(key) >= MinHS256SecretSize && len(key) <= MaxHS256SecretSize
			if !inPolicy {
				if CodeOf(err) != CodeBadKey {
					t.Errorf("tc%d: %d-byte secret: got %v, want bad_key", tc.TcID, len(key), err)
				}
				keyRefused++
				continue
			}
			if err != nil {
				t.Fatalf("tc%d: secret refused: %v", tc.TcID, err)
			}
			if g.TagSize != 256 {
				if k.Verify(msg, tag) == nil {
					t.Errorf("tc%d: %d-bit truncated tag accepted", tc.TcID, g.TagSize)
				}
				truncRefused++
				continue
			}
			c.check(t, tc.TcID, tc.Comment, tc.Result, k.Verify(msg, tag))
		}
	}
	c.log(t, "Wycheproof HMAC-SHA256 (32..64-byte keys, 256-bit tags)")
	t.Logf("outside the HS256 policy: %d cases with secrets outside 32..64 bytes refused at registration, %d truncated-tag cases refused", keyRefused, truncRefused)
	if c.valid == 0 || c.invalid == 0 {
		t.Fatal("no in-policy HMAC cases ran")
	}
}

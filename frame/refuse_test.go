package frame

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refusal is one attack or malformation and the reason code it must get
// from the receiving pipeline (ParseEnvelope, Verify with the key registered
// under kid, DecodeFrame). Rows with a golden name are published as
// testdata/frames/invalid/<golden>.bin.
type refusal struct {
	name   string
	code   Code
	golden string
	env    func(t testing.TB, k *testKeys) []byte
}

// signedEnv signs f with the TEST-ONLY Ed25519 key.
func (k *testKeys) signedEnv(t testing.TB, f *Frame) []byte {
	t.Helper()
	b, err := Sign(k.ed, testKIDEd25519, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawEnv signs arbitrary frame bytes (canonical or not) with the Ed25519
// test key and wraps them, as an attacker or a buggy sender could.
func (k *testKeys) rawEnv(t testing.TB, fb []byte) []byte {
	t.Helper()
	sig, err := k.ed.sign(fb)
	if err != nil {
		t.Fatal(err)
	}
	k.lastRawFrame = fb
	return appendEnvelope(nil, AlgEd25519, testKIDEd25519, fb, sig)
}

func sampleFrameBytes(t testing.TB) []byte {
	t.Helper()
	b, err := sampleTelemetry().MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceOnce replaces the one occurrence of old in b.
func replaceOnce(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(b, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times in %s", old, n, b)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// editedFrame edits the sample frame's canonical bytes, re-canonicalizes
// them and signs them: a correctly signed, canonical frame whose content
// the schema must refuse.
func editedFrame(old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		fb := replaceOnce(t, sampleFrameBytes(t), old, new)
		c, err := canonicalize(fb)
		if err != nil {
			t.Fatalf("edit %q -> %q: %v", old, new, err)
		}
		return k.rawEnv(t, c)
	}
}

// editedBytes edits the sample frame's bytes without re-canonicalizing and
// signs them as they are.
func editedBytes(old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		return k.rawEnv(t, replaceOnce(t, sampleFrameBytes(t), old, new))
	}
}

// editedEnv edits a correctly signed envelope.
func editedEnv(old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		return replaceOnce(t, k.signedEnv(t, sampleTelemetry()), old, new)
	}
}

func literal(s string) func(testing.TB, *testKeys) []byte {
	return func(testing.TB, *testKeys) []byte { return []byte(s) }
}

func bodyEnv(b Body) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		f := sampleTelemetry()
		f.Body = b
		fb := f.appendCanonical(nil) // bypass StaticValidate: the receiver must catch it
		return k.rawEnv(t, fb)
	}
}

// withExt inserts "ext":<ext> into the sample frame's canonical bytes,
// where RFC 8785 puts it (after epoch), and signs the result as it is: the
// ext bytes decide whether the frame is canonical.
func withExt(ext string) func(testing.TB, *testKeys) []byte {
	return editedBytes(`{"epoch":3,`, `{"epoch":3,"ext":`+ext+`,`)
}

func refusals() []refusal {
	sigOf := func(t testing.TB, env []byte) string {
		t.Helper()
		i := bytes.LastIndex(env, []byte(`"sig":"`))
		return string(env[i+7 : len(env)-2])
	}
	return []refusal{
		// Integrity.
		{"tampered seq after signing", CodeBadSignature, "bad_signature-tampered-seq",
			editedEnv(`"seq":1842`, `"seq":1843`)},
		{"tampered position after signing", CodeBadSignature, "",
			editedEnv(`"lat":41.878113`, `"lat":41.878114`)},
		{"signature by another key under this kid", CodeBadSignature, "", func(t testing.TB, k *testKeys) []byte {
			other, _ := NewEd25519Signer(ed25519.NewKeyFromSeed(testSeed("Ed25519 key 2 (attacker)")))
			env, err := Sign(other, testKIDEd25519, sampleTelemetry())
			if err != nil {
				t.Fatal(err)
			}
			return env
		}},
		{"signature bit flip", CodeBadSignature, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			sig, _ := decodeB64(sigOf(t, env))
			sig[10] ^= 1
			return replaceOnce(t, env, sigOf(t, env), base64.RawURLEncoding.EncodeToString(sig))
		}},
		{"Ed25519 malleability S+L", CodeBadSignature, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			sig, _ := decodeB64(sigOf(t, env))
			l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
			s := new(big.Int).SetBytes(reverse(sig[32:]))
			s.Add(s, l)
			copy(sig[32:], reverse(s.FillBytes(make([]byte, 32))))
			return replaceOnce(t, env, sigOf(t, env), base64.RawURLEncoding.EncodeToString(sig))
		}},
		{"signature over the canonical form, frame sent non-canonical (whitespace)", CodeNotCanonical, "not_canonical-whitespace",
			func(t testing.TB, k *testKeys) []byte {
				env := k.signedEnv(t, sampleTelemetry())
				return replaceOnce(t, env, `"seq":1842,`, `"seq": 1842,`)
			}},
		{"signature over the canonical form, members reordered", CodeNotCanonical, "",
			func(t testing.TB, k *testKeys) []byte {
				env := k.signedEnv(t, sampleTelemetry())
				env = replaceOnce(t, env, `{"epoch":3,`, `{`)
				return replaceOnce(t, env, `"wheel_speed_mps":24.7}`, `"wheel_speed_mps":24.7,"epoch":3}`)
			}},
		{"non-canonical number signed as sent (24.60)", CodeNotCanonical, "", editedBytes(`"speed_mps":24.6`, `"speed_mps":24.60`)},
		{"non-canonical integer signed as sent (1.842e3)", CodeNotCanonical, "", editedBytes(`"seq":1842`, `"seq":1.842e3`)},
		{"non-canonical escape signed as sent", CodeNotCanonical, "", editedBytes(`"telemetry"`, `"\u0074elemetry"`)},
		{"negative zero signed as sent", CodeNotCanonical, "", editedBytes(`"epoch":3`, `"epoch":-0`)},

		// Algorithm.
		{"alg none", CodeAlgNotAllowed, "alg_not_allowed-none", editedEnv(`"alg":"Ed25519"`, `"alg":"none"`)},
		{"alg RS256", CodeAlgNotAllowed, "", editedEnv(`"alg":"Ed25519"`, `"alg":"RS256"`)},
		{"alg EdDSA (JOSE name)", CodeAlgNotAllowed, "", editedEnv(`"alg":"Ed25519"`, `"alg":"EdDSA"`)},
		{"alg case variant ed25519", CodeAlgNotAllowed, "", editedEnv(`"alg":"Ed25519"`, `"alg":"ed25519"`)},
		{"alg empty", CodeAlgNotAllowed, "", editedEnv(`"alg":"Ed25519"`, `"alg":""`)},
		{"alg missing (no default)", CodeMissingAlg, "missing_alg", editedEnv(`"alg":"Ed25519",`, ``)},
		{"alg null", CodeSchema, "", editedEnv(`"alg":"Ed25519"`, `"alg":null`)},
		{"HS256 keyed with the vehicle's Ed25519 public key (alg confusion)", CodeAlgMismatch, "alg_mismatch-hs256-with-public-key",
			func(t testing.TB, k *testKeys) []byte {
				hk, err := NewHS256Key(k.ed.Public().Bytes())
				if err != nil {
					t.Fatal(err)
				}
				env, err := Sign(hk, testKIDEd25519, sampleTelemetry())
				if err != nil {
					t.Fatal(err)
				}
				return env
			}},
		{"kid of no registered key", CodeUnknownKID, "unknown_kid", editedEnv(`"kid":"test-ed25519-1"`, `"kid":"test-ed25519-9"`)},
		{"ES256 named for an Ed25519 kid", CodeAlgMismatch, "", editedEnv(`"alg":"Ed25519"`, `"alg":"ES256"`)},

		// Key id.
		{"kid missing (no default)", CodeMissingKID, "missing_kid", editedEnv(`,"kid":"test-ed25519-1"`, ``)},
		{"kid empty", CodeMissingKID, "", editedEnv(`"kid":"test-ed25519-1"`, `"kid":""`)},
		{"kid path traversal", CodeBadKID, "bad_kid-path-traversal", editedEnv(`"kid":"test-ed25519-1"`, `"kid":"../../etc/passwd"`)},
		{"kid with NUL", CodeBadKID, "", editedEnv(`"kid":"test-ed25519-1"`, `"kid":"test-ed25519-1\u0000"`)},
		{"kid too long", CodeBadKID, "", editedEnv(`"kid":"test-ed25519-1"`, `"kid":"`+strings.Repeat("k", MaxKIDLen+1)+`"`)},
		{"kid a number", CodeSchema, "", editedEnv(`"kid":"test-ed25519-1"`, `"kid":1`)},

		// Signature encoding.
		{"sig padded base64url", CodeBadSigEncoding, "bad_sig_encoding-padded", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			s := sigOf(t, env)
			return replaceOnce(t, env, s, s+"==")
		}},
		{"sig standard base64 alphabet", CodeBadSigEncoding, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			s := sigOf(t, env)
			sig, _ := decodeB64(s)
			std := base64.RawStdEncoding.EncodeToString(sig)
			if std == s {
				t.Fatal("sample signature has no - or _; pick another sample")
			}
			return replaceOnce(t, env, s, std)
		}},
		{"sig with non-zero trailing bits", CodeBadSigEncoding, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			s := sigOf(t, env)
			// 64 bytes = 85 chars + 1 char carrying 2 bits and 4 zero bits.
			last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[len(s)-1])
			alt := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1]
			return replaceOnce(t, env, s, s[:len(s)-1]+string(alt))
		}},
		{"sig with an escaped line break", CodeBadSigEncoding, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			s := sigOf(t, env)
			return replaceOnce(t, env, s, s[:40]+`\n`+s[40:])
		}},
		{"sig truncated to 63 bytes", CodeBadSigEncoding, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			s := sigOf(t, env)
			sig, _ := decodeB64(s)
			return replaceOnce(t, env, s, base64.RawURLEncoding.EncodeToString(sig[:63]))
		}},
		{"sig empty", CodeBadSigEncoding, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			return replaceOnce(t, env, sigOf(t, env), "")
		}},
		{"sig missing", CodeMissingMember, "missing_member-sig", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			return replaceOnce(t, env, `,"sig":"`+sigOf(t, env)+`"`, "")
		}},
		{"sig an array of bytes", CodeSchema, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			return replaceOnce(t, env, `"`+sigOf(t, env)+`"`, "[1,2,3]")
		}},

		// Envelope shape.
		{"unknown envelope member (typ)", CodeUnknownMember, "unknown_member-envelope", editedEnv(`{"alg"`, `{"typ":"JWT","alg"`)},
		{"envelope member case variant (Alg)", CodeUnknownMember, "", editedEnv(`"alg":"Ed25519"`, `"Alg":"Ed25519"`)},
		{"frame missing", CodeMissingMember, "", literal(`{"alg":"Ed25519","kid":"k","sig":""}`)},
		{"frame a string holding JSON", CodeSchema, "schema-frame-string", func(t testing.TB, k *testKeys) []byte {
			fb := sampleFrameBytes(t)
			q := strconv.Quote(string(fb)) // the frame is ASCII, so this is a JSON string
			sig, _ := k.ed.sign(fb)
			return []byte(`{"alg":"Ed25519","frame":` + q + `,"kid":"test-ed25519-1","sig":"` + base64.RawURLEncoding.EncodeToString(sig) + `"}`)
		}},
		{"envelope an array", CodeSchema, "", literal(`[{"alg":"Ed25519"}]`)},
		{"envelope null", CodeSchema, "", literal(`null`)},

		// Strict JSON.
		{"duplicate alg smuggling none", CodeDuplicateMember, "duplicate_member-alg", editedEnv(`"alg":"Ed25519"`, `"alg":"Ed25519","alg":"none"`)},
		{"duplicate seq smuggled into a signed frame", CodeDuplicateMember, "duplicate_member-frame-seq", editedBytes(`"seq":1842`, `"seq":1842,"seq":1843`)},
		{"duplicate seq hidden by an escape", CodeDuplicateMember, "", editedBytes(`"seq":1842`, `"seq":1842,"s\u0065q":1843`)},
		{"lone surrogate in a frame string", CodeInvalidUTF8, "invalid_utf8-lone-surrogate", editedBytes(`"truck-0042"`, `"truck-0042\ud800"`)},
		{"lone low surrogate", CodeInvalidUTF8, "", editedBytes(`"truck-0042"`, `"\udc00truck-0042"`)},
		{"invalid UTF-8 byte", CodeInvalidUTF8, "invalid_utf8-byte", editedBytes(`"truck-0042"`, "\"truck-0042\xff\"")},
		{"overlong UTF-8 encoding of /", CodeInvalidUTF8, "", editedBytes(`"truck-0042"`, "\"truck\xc0\xaf0042\"")},
		{"UTF-8 encoded surrogate", CodeInvalidUTF8, "", editedBytes(`"truck-0042"`, "\"truck\xed\xa0\x800042\"")},
		{"number 1e400", CodeNumberOutOfRange, "number_out_of_range-1e400", editedBytes(`"odometer_m":1523467.25`, `"odometer_m":1e400`)},
		{"number -1e400", CodeNumberOutOfRange, "", editedBytes(`"lat":41.878113`, `"lat":-1e400`)},
		{"number 1e400 in an unknown envelope member", CodeNumberOutOfRange, "", editedEnv(`{"alg"`, `{"x":1e400,"alg"`)},
		{"deep nesting in the frame", CodeTooDeep, "too_deep-frame", editedBytes(`"v":1,`, `"v":1,"x":`+strings.Repeat("[", 10)+strings.Repeat("]", 10)+`,`)},
		{"deep nesting bomb", CodeTooDeep, "", literal(strings.Repeat("[", 5000) + strings.Repeat("]", 5000))},
		{"frame over 16 KiB", CodeTooLarge, "too_large-frame", func(t testing.TB, k *testKeys) []byte {
			fb := sampleFrameBytes(t)
			pad := MaxFrameSize + 1 - len(fb) - len(`,"zz":""`)
			return k.rawEnv(t, replaceOnce(t, fb, `"wheel_speed_mps":24.7}`, `"wheel_speed_mps":24.7,"zz":"`+strings.Repeat("a", pad)+`"}`))
		}},
		{"envelope over the limit", CodeTooLarge, "", func(t testing.TB, k *testKeys) []byte {
			return append(k.signedEnv(t, sampleTelemetry()), bytes.Repeat([]byte(" "), MaxEnvelopeSize)...)
		}},
		{"trailing data after the envelope", CodeBadJSON, "bad_json-trailing-data", func(t testing.TB, k *testKeys) []byte {
			return append(k.signedEnv(t, sampleTelemetry()), `{"alg":"none"}`...)
		}},
		{"truncated envelope", CodeBadJSON, "", func(t testing.TB, k *testKeys) []byte {
			env := k.signedEnv(t, sampleTelemetry())
			return env[:len(env)-1]
		}},
		{"comment in JSON", CodeBadJSON, "", editedEnv(`{"alg"`, `{/* c */"alg"`)},
		{"NaN literal", CodeBadJSON, "", editedBytes(`"hdop":0.8`, `"hdop":NaN`)},
		{"byte order mark", CodeBadJSON, "", func(t testing.TB, k *testKeys) []byte {
			return append([]byte("\xef\xbb\xbf"), k.signedEnv(t, sampleTelemetry())...)
		}},
		{"empty input", CodeBadJSON, "", literal(``)},

		// Frame schema: correctly signed, canonical, refused by content.
		{"frame version 2", CodeUnsupportedVersion, "unsupported_version-v2", editedFrame(`"v":1`, `"v":2`)},
		{"frame version missing", CodeMissingMember, "", editedFrame(`"v":1,`, ``)},
		{"frame version a string", CodeSchema, "", editedFrame(`"v":1`, `"v":"1"`)},
		{"kind unknown", CodeUnknownKind, "unknown_kind-reboot", editedFrame(`"kind":"telemetry"`, `"kind":"reboot"`)},
		{"kind missing", CodeMissingMember, "", editedFrame(`"kind":"telemetry",`, ``)},
		{"unknown frame member", CodeUnknownMember, "unknown_member-frame", editedFrame(`"v":1,`, `"v":1,"debug":true,`)},
		{"unknown gnss member", CodeUnknownMember, "", editedFrame(`"fix":"rtk",`, `"alt_m":180.5,"fix":"rtk",`)},
		{"member case variant (Seq)", CodeUnknownMember, "", editedFrame(`"seq":1842`, `"Seq":1842`)},
		{"heartbeat member in a telemetry frame", CodeUnknownMember, "", editedFrame(`"v":1,`, `"v":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA",`)},
		{"seq missing", CodeMissingMember, "missing_member-seq", editedFrame(`"seq":1842,`, ``)},
		{"gnss.lat missing", CodeMissingMember, "", editedFrame(`"lat":41.878113,`, ``)},
		{"seq 2^53", CodeNumberOutOfRange, "number_out_of_range-seq-2p53", editedFrame(`"seq":1842`, `"seq":9007199254740992`)},
		{"seq 2^64", CodeNumberOutOfRange, "", editedFrame(`"seq":1842`, `"seq":18446744073709551616`)},
		{"seq negative", CodeNumberOutOfRange, "", editedFrame(`"seq":1842`, `"seq":-1`)},
		{"seq fractional", CodeSchema, "", editedFrame(`"seq":1842`, `"seq":1842.5`)},
		{"seq a string", CodeSchema, "", editedFrame(`"seq":1842`, `"seq":"1842"`)},
		{"ts with offset", CodeBadTS, "bad_ts-offset", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-11-24T22:00:00.123+01:00"`)},
		{"ts without milliseconds", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-11-24T21:00:00Z"`)},
		{"ts with microseconds", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-11-24T21:00:00.123456Z"`)},
		{"ts lowercase z", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-11-24T21:00:00.123z"`)},
		{"ts space separator", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-11-24 21:00:00.123Z"`)},
		{"ts leap second", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-12-31T23:59:60.000Z"`)},
		{"ts February 30", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"2026-02-30T21:00:00.123Z"`)},
		{"ts unset clock (1970)", CodeBadTS, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `"1970-01-01T00:00:00.000Z"`)},
		{"ts a number", CodeSchema, "", editedFrame(`"2026-11-24T21:00:00.123Z"`, `1795554000123`)},
		{"vehicle_id with a space", CodeSchema, "schema-vehicle-id", editedFrame(`"truck-0042"`, `"truck 0042"`)},
		{"vehicle_id empty", CodeSchema, "", editedFrame(`"truck-0042"`, `""`)},
		{"vehicle_id URN instead of id", CodeSchema, "", editedFrame(`"truck-0042"`, `"urn:fifthwheel:vehicle:truck-0042"`)},
		{"lat 91", CodeSchema, "schema-lat-91", editedFrame(`"lat":41.878113`, `"lat":91`)},
		{"lon -180.5", CodeSchema, "", editedFrame(`"lon":-87.629799`, `"lon":-180.5`)},
		{"heading 360", CodeSchema, "", editedFrame(`"heading_deg":271.5`, `"heading_deg":360`)},
		{"speed negative", CodeSchema, "", editedFrame(`"speed_mps":24.6`, `"speed_mps":-1`)},
		{"speed above bound", CodeSchema, "", editedFrame(`"speed_mps":24.6`, `"speed_mps":100.5`)},
		{"wheel speed above bound", CodeSchema, "", editedFrame(`"wheel_speed_mps":24.7`, `"wheel_speed_mps":1000`)},
		{"odometer negative", CodeSchema, "", editedFrame(`"odometer_m":1523467.25`, `"odometer_m":-5`)},
		{"hdop above bound", CodeSchema, "", editedFrame(`"hdop":0.8`, `"hdop":150`)},
		{"fix unknown", CodeSchema, "", editedFrame(`"fix":"rtk"`, `"fix":"dgps"`)},
		{"state unknown", CodeSchema, "", editedFrame(`"state":"driving"`, `"state":"flying"`)},
		{"lat a string", CodeSchema, "", editedFrame(`"lat":41.878113`, `"lat":"41.878113"`)},
		{"gnss an array", CodeSchema, "", editedFrame(`"gnss":{"fix":"rtk","hdop":0.8,"heading_deg":271.5,"lat":41.878113,"lon":-87.629799,"speed_mps":24.6}`, `"gnss":[]`)},
		{"cpu temperature above bound", CodeSchema, "", editedFrame(`"cpu_temp_c":61.5`, `"cpu_temp_c":151`)},
		{"battery negative", CodeSchema, "", editedFrame(`"battery_v":27.6`, `"battery_v":-1`)},
		{"fault listed twice", CodeSchema, "", editedFrame(`"faults":[]`, `"faults":["P0300","P0300"]`)},
		{"fault code with markup", CodeSchema, "", editedFrame(`"faults":[]`, `"faults":["<script>"]`)},
		{"fault not a string", CodeSchema, "", editedFrame(`"faults":[]`, `"faults":[1]`)},
		{"faults over the limit", CodeSchema, "", editedFrame(`"faults":[]`, `"faults":`+manyFaults(MaxFaults+1))},

		// The extension member: anything I-JSON inside, nothing ambiguous.
		{"ext nesting beyond MaxExtDepth (a nesting bomb in the AV stack's data)", CodeTooDeep, "too_deep-ext", withExt(`{"a":[[[[{}]]]]}`)},
		{"ext over MaxExtSize in a frame under MaxFrameSize", CodeTooLarge, "too_large-ext",
			withExt(`{"pad":"` + strings.Repeat("a", MaxExtSize+1-len(`{"pad":""}`)) + `"}`)},
		{"ext an array", CodeSchema, "schema-ext-array", withExt(`[1,2]`)},
		{"ext null (no ext is written by leaving the member out)", CodeSchema, "", withExt(`null`)},
		{"ext a string holding JSON", CodeSchema, "", withExt(`"{\"a\":1}"`)},
		{"duplicate name inside ext", CodeDuplicateMember, "duplicate_member-ext", withExt(`{"mode":"L2","mode":"L4"}`)},
		{"duplicate name inside ext hidden by an escape", CodeDuplicateMember, "", withExt(`{"m\u006fde":"L4","mode":"L2"}`)},
		{"lone surrogate inside ext", CodeInvalidUTF8, "invalid_utf8-ext-lone-surrogate", withExt(`{"a":"\ud83d"}`)},
		{"invalid UTF-8 inside ext", CodeInvalidUTF8, "", withExt("{\"a\":\"\xff\"}")},
		{"number 1e400 inside ext", CodeNumberOutOfRange, "number_out_of_range-ext-1e400", withExt(`{"a":1e400}`)},
		{"ext names in UTF-8 byte order instead of UTF-16 code unit order", CodeNotCanonical, "not_canonical-ext-utf8-order", withExt(`{"｡":1,"😀":2}`)},
		{"ext escaping a character RFC 8785 writes literally", CodeNotCanonical, "", withExt(`{"a":"\u00e9"}`)},
		{"ext number not in ECMAScript form (1E3)", CodeNotCanonical, "", withExt(`{"a":1E3}`)},
		{"ext with whitespace", CodeNotCanonical, "", withExt(`{"a": 1}`)},
		{"ext on a heartbeat", CodeUnknownMember, "unknown_member-ext-heartbeat", func(t testing.TB, k *testKeys) []byte {
			f := sampleTelemetry()
			f.Body = &Heartbeat{State: StateDriving}
			return k.rawEnv(t, replaceOnce(t, f.appendCanonical(nil), `{"epoch":3,`, `{"epoch":3,"ext":{"a":1},`))
		}},
		{"ext member case variant (Ext)", CodeUnknownMember, "", editedFrame(`{"epoch":3,`, `{"Ext":{},"epoch":3,`)},

		{"hello nonce too short", CodeSchema, "", bodyEnv(&Hello{Nonce: make([]byte, MinNonceSize-1), State: StateDriving})},
		{"hello without state", CodeMissingMember, "", func(t testing.TB, k *testKeys) []byte {
			f := sampleTelemetry()
			f.Body = &Hello{Nonce: make([]byte, MinNonceSize), State: StateDriving}
			fb := replaceOnce(t, f.appendCanonical(nil), `"state":"driving",`, ``)
			return k.rawEnv(t, fb)
		}},
		{"hello state unknown", CodeSchema, "", bodyEnv(&Hello{Nonce: make([]byte, MinNonceSize), State: "teleporting"})},
		{"hello nonce padded", CodeSchema, "", func(t testing.TB, k *testKeys) []byte {
			f := sampleTelemetry()
			f.Body = &Hello{Nonce: make([]byte, 16), State: StateDriving}
			fb := replaceOnce(t, f.appendCanonical(nil), `AAAAAAAAAAAAAAAAAAAAAA"`, `AAAAAAAAAAAAAAAAAAAAAA=="`)
			return k.rawEnv(t, fb)
		}},
		{"challenge_response without nonce", CodeMissingMember, "", func(t testing.TB, k *testKeys) []byte {
			f := sampleTelemetry()
			f.Body = &Heartbeat{State: StateDriving}
			fb := replaceOnce(t, f.appendCanonical(nil), `"kind":"heartbeat"`, `"kind":"challenge_response"`)
			fb = replaceOnce(t, fb, `"state":"driving",`, ``)
			return k.rawEnv(t, fb)
		}},
		{"command_ack rejected without reason", CodeMissingMember, "", bodyEnv(&CommandAck{CommandID: "c1", CmdSeq: 1, Verdict: VerdictRejected})},
		{"command_ack reason with accepted", CodeSchema, "", bodyEnv(&CommandAck{CommandID: "c1", CmdSeq: 1, Verdict: VerdictAccepted, Reason: "x"})},
		{"command_ack verdict unknown", CodeSchema, "", bodyEnv(&CommandAck{CommandID: "c1", CmdSeq: 1, Verdict: "executed"})},
		{"command_ack cmd_seq 0", CodeNumberOutOfRange, "", bodyEnv(&CommandAck{CommandID: "c1", Verdict: VerdictAccepted})},
		{"command_ack detail with an escape sequence", CodeSchema, "", bodyEnv(&CommandAck{CommandID: "c1", CmdSeq: 1, Verdict: VerdictAccepted, Detail: "ok\x1b[2J"})},
		{"command_ack empty detail", CodeSchema, "", editedCommandAck(`"command_id":"c1",`, `"command_id":"c1","detail":"",`)},

		// Stop events and the telemetry eta.
		{"stop_event status unknown", CodeSchema, "schema-stop-event-status", bodyEnv(&StopEvent{TenderID: "T1", StopSeq: 1, Status: "teleported", At: testTS})},
		{"stop_event without tender_id", CodeMissingMember, "", editedStopEvent(`,"tender_id":"T1"`, ``)},
		{"stop_event with an unknown member", CodeUnknownMember, "unknown_member-stop-event", editedStopEvent(`"status":"arrived"`, `"status":"arrived","stop":"dock 4"`)},
		{"stop_event empty tender_id", CodeSchema, "", bodyEnv(&StopEvent{TenderID: "", StopSeq: 1, Status: StopArrived, At: testTS})},
		{"stop_event tender_id with a slash", CodeSchema, "", bodyEnv(&StopEvent{TenderID: "T/1", StopSeq: 1, Status: StopArrived, At: testTS})},
		{"stop_event stop_seq above 2^53-1", CodeNumberOutOfRange, "", editedStopEvent(`"stop_seq":1`, `"stop_seq":9007199254740992`)},
		{"stop_event negative stop_seq", CodeNumberOutOfRange, "", editedStopEvent(`"stop_seq":1`, `"stop_seq":-1`)},
		{"stop_event lat out of range", CodeSchema, "", bodyEnv(&StopEvent{TenderID: "T1", StopSeq: 1, Status: StopArrived, At: testTS, Lat: 91})},
		{"stop_event at with microseconds", CodeBadTS, "", editedStopEvent(`.123Z","epoch"`, `.123456Z","epoch"`)},
		{"stop_event at not a string", CodeSchema, "", editedStopEvent(`"at":"`+testTS.Format(TSLayout)+`"`, `"at":1764000000000`)},
		{"telemetry eta without at", CodeMissingMember, "", editedBytes(`{"epoch":3,`, `{"epoch":3,"eta":{"stop_seq":2,"tender_id":"T1"},`)},
		{"telemetry eta with an unknown member", CodeUnknownMember, "unknown_member-telemetry-eta",
			editedBytes(`{"epoch":3,`, `{"epoch":3,"eta":{"at":"2026-11-25T02:10:00.000Z","km":12,"stop_seq":2,"tender_id":"T1"},`)},
		{"telemetry eta empty tender_id", CodeSchema, "", editedBytes(`{"epoch":3,`, `{"epoch":3,"eta":{"at":"2026-11-25T02:10:00.000Z","stop_seq":2,"tender_id":""},`)},
		{"telemetry eta not an object", CodeSchema, "", editedBytes(`{"epoch":3,`, `{"epoch":3,"eta":"2026-11-25T02:10:00.000Z",`)},
		{"telemetry eta null", CodeSchema, "", editedBytes(`{"epoch":3,`, `{"epoch":3,"eta":null,`)},

		// Commands: the payload's arrays of objects.
		{"command stop with a duplicate member", CodeDuplicateMember, "duplicate_member-command-stop",
			editedCommandBytes(CommandDispatch, `"facility":"Memphis Crossdock",`, `"facility":"Memphis Crossdock","facility":"Memphis Crossdock",`)},
		{"command waypoint with an unknown member", CodeUnknownMember, "unknown_member-command-waypoint",
			editedCommand(CommandDispatch, `{"handoff":false,"lat":41.525031`, `{"alt":180,"handoff":false,"lat":41.525031`)},
		{"command payload member the type does not define (waypoints in a tender)", CodeUnknownMember, "unknown_member-command-tender-waypoints",
			bodyEnv(func() Body {
				c := sampleCommand(CommandTender)
				c.Payload.Waypoints = sampleCommand(CommandDispatch).Payload.Waypoints
				return c
			}())},
		{"command payload unknown member", CodeUnknownMember, "", editedCommand(CommandCancel, `{"cancels":`, `{"speed_limit":99,"cancels":`)},
		{"command dispatch without waypoints", CodeMissingMember, "",
			bodyEnv(func() Body { c := sampleCommand(CommandDispatch); c.Payload.Waypoints = nil; return c }())},
		{"command with more waypoints than MaxWaypoints", CodeSchema, "schema-command-too-many-waypoints",
			bodyEnv(func() Body {
				c := sampleCommand(CommandDispatch)
				c.Payload.Waypoints = nil
				for i := range MaxWaypoints + 1 {
					c.Payload.Waypoints = append(c.Payload.Waypoints, Waypoint{Seq: uint64(i), Lat: 40, Lon: -90})
				}
				return c
			}())},
		{"command waypoint nesting arrays past the depth limit", CodeTooDeep, "too_deep-command-waypoint",
			editedCommandBytes(CommandDispatch, `"name":"Joliet DC 4"`, `"name":[[[]]]`)},
		{"command waypoints an object", CodeSchema, "", editedCommand(CommandDispatch, `"waypoints":[`, `"waypoints":{"a":[`, `}]},"risk"`, `}]}},"risk"`)},
		{"command waypoints empty", CodeSchema, "", editedCommand(CommandCancel, `{"cancels":`, `{"waypoints":[],"cancels":`)},
		{"command waypoint handoff not a boolean", CodeSchema, "", editedCommand(CommandDispatch, `"handoff":true`, `"handoff":1`)},
		{"command waypoint name empty", CodeSchema, "", editedCommand(CommandDispatch, `"name":"Joliet DC 4"`, `"name":""`)},
		{"command waypoints out of order", CodeSchema, "",
			bodyEnv(func() Body { c := sampleCommand(CommandDispatch); c.Payload.Waypoints[1].Seq = 1; return c }())},
		{"command stop without tz", CodeMissingMember, "", editedCommand(CommandTender, `"type":"delivery","tz":"America/Chicago",`, `"type":"delivery",`)},
		{"command stop type unknown", CodeSchema, "", editedCommand(CommandTender, `"type":"delivery"`, `"type":"dropoff"`)},
		{"command stop tz with a dot-dot part", CodeSchema, "",
			bodyEnv(func() Body { c := sampleCommand(CommandTender); c.Payload.Stops[0].TZ = "America/../etc"; return c }())},
		{"command stop facility with a control character", CodeSchema, "",
			bodyEnv(func() Body { c := sampleCommand(CommandTender); c.Payload.Stops[0].Facility = "Dock\u0007"; return c }())},
		{"command stop window ends before it starts", CodeSchema, "",
			bodyEnv(func() Body {
				c := sampleCommand(CommandTender)
				c.Payload.Stops[0].WindowEnd = c.Payload.Stops[0].WindowStart.Add(-time.Millisecond)
				return c
			}())},
		{"command stop window_start not ms", CodeBadTS, "", editedCommand(CommandTender, `"window_start":"2026-11-25T14:00:00.000Z"`, `"window_start":"2026-11-25T14:00:00Z"`)},
		{"command stops out of order", CodeSchema, "",
			bodyEnv(func() Body { c := sampleCommand(CommandTender); c.Payload.Stops[1].Seq = 0; return c }())},
		{"command cmd_seq 0", CodeNumberOutOfRange, "", bodyEnv(func() Body { c := sampleCommand(CommandCancel); c.CmdSeq = 0; return c }())},
		{"command cmd_seq 2^53", CodeNumberOutOfRange, "", editedCommand(CommandCancel, `"cmd_seq":41`, `"cmd_seq":9007199254740992`)},
		{"command type unknown", CodeSchema, "", editedCommand(CommandCancel, `"command_type":"cancel"`, `"command_type":"reboot"`)},
		{"command risk unknown", CodeSchema, "", editedCommand(CommandCancel, `"risk":"low"`, `"risk":"none"`)},
		{"command expires before it is issued", CodeSchema, "",
			bodyEnv(func() Body { c := sampleCommand(CommandCancel); c.ExpiresAt = c.IssuedAt; return c }())},
		{"command lives longer than MaxCommandLifetime", CodeSchema, "",
			bodyEnv(func() Body {
				c := sampleCommand(CommandCancel)
				c.ExpiresAt = c.IssuedAt.Add(MaxCommandLifetime + time.Millisecond)
				return c
			}())},
		{"command nonce too short", CodeSchema, "", bodyEnv(func() Body { c := sampleCommand(CommandCancel); c.Nonce = c.Nonce[:15]; return c }())},
		{"command without payload", CodeMissingMember, "", editedCommand(CommandCancel, `"payload":{"cancels":"cmd-7f39","reason":"load_cancelled"},`, ``)},
		{"ack seq 2^53", CodeNumberOutOfRange, "", bodyEnv(&Ack{AckEpoch: 1, AckSeq: MaxSafeInteger + 1})},
		{"challenge with empty peer_nonce", CodeSchema, "", bodyEnv(&Challenge{Nonce: make([]byte, 16)})},
		{"challenge peer_nonce too long", CodeSchema, "", bodyEnv(&Challenge{Nonce: make([]byte, 16), PeerNonce: make([]byte, MaxNonceSize+1)})},
		{"resume nonce too short", CodeSchema, "", bodyEnv(&Resume{Nonce: make([]byte, MinNonceSize-1)})},
		{"ready with empty nonce", CodeSchema, "", bodyEnv(&Ready{})},
		{"nack with empty reason", CodeSchema, "", bodyEnv(&Nack{AckEpoch: 1, AckSeq: 2})},
		{"nack reason with markup", CodeSchema, "", bodyEnv(&Nack{AckEpoch: 1, AckSeq: 2, Reason: "<b>"})},
	}
}

// commandFrameBytes is the canonical bytes of the sample frame carrying
// sampleCommand(typ).
func commandFrameBytes(t testing.TB, typ CommandType) []byte {
	t.Helper()
	f := sampleTelemetry()
	f.Body = sampleCommand(typ)
	b, err := f.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editedCommand edits a sample command frame's canonical bytes (pairs of
// old, new), re-canonicalizes and signs them.
func editedCommand(typ CommandType, edits ...string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		fb := commandFrameBytes(t, typ)
		for i := 0; i+1 < len(edits); i += 2 {
			fb = replaceOnce(t, fb, edits[i], edits[i+1])
		}
		c, err := canonicalize(fb)
		if err != nil {
			t.Fatalf("edit %q: %v", edits, err)
		}
		return k.rawEnv(t, c)
	}
}

// editedCommandBytes is editedCommand without re-canonicalizing.
func editedCommandBytes(typ CommandType, old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		return k.rawEnv(t, replaceOnce(t, commandFrameBytes(t, typ), old, new))
	}
}

// editedCommandAck edits a command_ack frame's canonical bytes and signs
// them as they are.
func editedCommandAck(old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		f := sampleTelemetry()
		f.Body = &CommandAck{CommandID: "c1", CmdSeq: 1, Verdict: VerdictAccepted}
		return k.rawEnv(t, replaceOnce(t, f.appendCanonical(nil), old, new))
	}
}

// editedStopEvent edits a stop_event frame's canonical bytes and signs
// them as they are.
func editedStopEvent(old, new string) func(testing.TB, *testKeys) []byte {
	return func(t testing.TB, k *testKeys) []byte {
		f := sampleTelemetry()
		f.Body = &StopEvent{TenderID: "T1", StopSeq: 1, Status: StopArrived, At: testTS}
		return k.rawEnv(t, replaceOnce(t, f.appendCanonical(nil), old, new))
	}
}

func manyFaults(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"F` + strconv.Itoa(i) + `"`)
	}
	b.WriteByte(']')
	return b.String()
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// TestRefusals runs every attack row through the receiving pipeline and
// checks its reason code, and that the error text leaks no signature.
func TestRefusals(t *testing.T) {
	k := newTestKeys(t)
	seen := map[string]bool{}
	for _, r := range refusals() {
		if seen[r.name] {
			t.Fatalf("duplicate row name %q", r.name)
		}
		seen[r.name] = true
		t.Run(r.name, func(t *testing.T) {
			env := r.env(t, k)
			f, err := k.open(env)
			if err == nil {
				t.Fatalf("accepted: %+v\n%s", f, env)
			}
			if got := CodeOf(err); got != r.code {
				t.Fatalf("code %q (%v), want %q\n%.400s", got, err, r.code, env)
			}
		})
	}
}

// TestDecodeFrameRefusals: DecodeFrame on bare frame bytes gives the same
// code as the envelope pipeline for every row whose fault is in the frame.
func TestDecodeFrameRefusals(t *testing.T) {
	k := newTestKeys(t)
	n := 0
	for _, r := range refusals() {
		k.lastRawFrame = nil
		r.env(t, k)
		if k.lastRawFrame == nil {
			continue // the row edits the envelope, not the frame
		}
		n++
		_, err := DecodeFrame(k.lastRawFrame)
		if got := CodeOf(err); got != r.code {
			t.Errorf("%s: DecodeFrame gives %q (%v), the pipeline %q", r.name, got, err, r.code)
		}
	}
	t.Logf("%d frame-level rows", n)
}

package frame

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns the golden envelopes, the frames inside them, and the
// RFC 8785 vectors.
func fuzzSeeds(f *testing.F) (envs, frames [][]byte) {
	f.Helper()
	dir := goldenDir(f)
	for _, sub := range []string{"valid", "invalid"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil || len(ents) == 0 {
			f.Fatalf("golden vectors missing in %s: %v", dir, err)
		}
		for _, e := range ents {
			b := readFile(f, filepath.Join(dir, sub, e.Name()))
			envs = append(envs, b)
			if env, err := ParseEnvelope(b); err == nil {
				frames = append(frames, env.Frame())
			}
		}
	}
	for _, sub := range []string{"jcs/input", "jcs/output"} {
		ents, err := os.ReadDir(vectors(f, sub))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range ents {
			b := readFile(f, filepath.Join(vectors(f, sub), e.Name()))
			envs = append(envs, b)
			frames = append(frames, b)
		}
	}
	return envs, frames
}

// FuzzParseEnvelope: nothing panics; every refusal is a typed *Error; an
// accepted envelope has canonical frame bytes, re-encodes canonically to
// an envelope that parses to the same values, and re-encoding is stable.
// A frame inside that DecodeFrame accepts re-encodes to identical bytes.
func FuzzParseEnvelope(f *testing.F) {
	envs, _ := fuzzSeeds(f)
	for _, b := range envs {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(e.Frame()) > MaxFrameSize || checkCanonical(e.Frame()) != nil {
			t.Fatalf("accepted frame bytes are not canonical or too large: %q", e.Frame())
		}
		enc := e.Encode()
		if c, err := canonicalize(enc); err != nil || !bytes.Equal(c, enc) {
			t.Fatalf("Encode is not canonical: %q", enc)
		}
		e2, err := ParseEnvelope(enc)
		if err != nil {
			t.Fatalf("re-encoded envelope refused: %v\n%q", err, enc)
		}
		if e2.Alg != e.Alg || e2.KID != e.KID || !bytes.Equal(e2.Sig, e.Sig) || !bytes.Equal(e2.Frame(), e.Frame()) {
			t.Fatalf("re-encoded envelope differs")
		}
		if !bytes.Equal(e2.Encode(), enc) {
			t.Fatalf("re-encoding is not stable")
		}
		if fr, err := e.DecodeFrame(); err == nil {
			m, err := fr.MarshalCanonical()
			if err != nil || !bytes.Equal(m, e.Frame()) {
				t.Fatalf("decoded frame re-encodes differently (%v):\n got %q\nwant %q", err, m, e.Frame())
			}
		} else if CodeOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzDecodeFrame: an accepted frame re-encodes to exactly its bytes and
// passes the generic canonical check; refusals are typed.
func FuzzDecodeFrame(f *testing.F) {
	_, frames := fuzzSeeds(f)
	for _, b := range frames {
		f.Add(b)
	}
	for _, fr := range sampleBodies() {
		b, err := fr.MarshalCanonical()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		m, err := fr.MarshalCanonical()
		if err != nil || !bytes.Equal(m, b) {
			t.Fatalf("accepted frame re-encodes differently (%v):\n got %q\nwant %q", err, m, b)
		}
		if err := checkCanonical(b); err != nil {
			t.Fatalf("accepted frame fails the generic canonical check: %v", err)
		}
	})
}

// FuzzCanonical: canonicalization is idempotent, and the canonical check
// accepts exactly the inputs equal to their canonical form.
func FuzzCanonical(f *testing.F) {
	envs, frames := fuzzSeeds(f)
	for _, b := range append(envs, frames...) {
		f.Add(b)
	}
	for _, s := range []string{`1e400`, `-0`, `[1E2,0.1e1,"\u00e9"]`, `{"b":1,"a":{"d":[],"c":null}}`, `"\ud83d\ude02"`, `9007199254740993`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := canonicalize(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c2, err := canonicalize(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("canonicalization is not idempotent: %q -> %q (%v)", c, c2, err)
		}
		if err := checkCanonical(c); err != nil {
			t.Fatalf("canonical form refused: %v", err)
		}
		if isCanon := checkCanonical(b) == nil; isCanon != bytes.Equal(b, c) {
			t.Fatalf("checkCanonical says %v for %q (canonical %q)", isCanon, b, c)
		}
	})
}

// FuzzNewExt: an ext NewExt accepts is canonical and within the bounds,
// NewExt of it is itself, and a telemetry frame carrying it encodes and
// decodes to the same ext bytes; refusals are typed.
func FuzzNewExt(f *testing.F) {
	for _, s := range []string{sampleExtInput, sampleExtCanonical, `{}`, `[]`, `null`, `{"a":1e400}`, `{"a":"\ud800"}`,
		`{"b":1,"a":2}`, `{"a":[[[[1]]]]}`, `{"a":[[[[{}]]]]}`, `{"a":1,"a":2}`, `{"｡":1,"😀":2}`, `{"a":1E3,"b":-0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := NewExt(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(e) > MaxExtSize || e.check() != nil {
			t.Fatalf("accepted ext is out of bounds or not canonical: %q", e)
		}
		if again, err := NewExt(e); err != nil || !bytes.Equal(again, e) {
			t.Fatalf("NewExt is not idempotent: %q -> %q (%v)", e, again, err)
		}
		fr := sampleTelemetry()
		fr.Body.(*Telemetry).Ext = e
		m, err := fr.MarshalCanonical()
		if err != nil {
			t.Fatalf("a frame with an accepted ext does not encode: %v", err)
		}
		d, err := DecodeFrame(m)
		if err != nil || !bytes.Equal(d.Body.(*Telemetry).Ext, e) {
			t.Fatalf("a frame with an accepted ext does not decode to it (%v)", err)
		}
	})
}

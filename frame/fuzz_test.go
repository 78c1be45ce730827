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

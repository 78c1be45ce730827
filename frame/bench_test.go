package frame

import (
	"crypto/ed25519"
	"testing"
)

// Benchmarks of the receiving hot path, on the ~580-byte telemetry frame
// docs/PERFORMANCE.md's cost figures assume. Reproduce with:
//
//	go test -run x -bench . -benchtime=2s ./frame/

func benchEnvelope(b *testing.B, s Signer, kid string) (env []byte, e *Envelope) {
	b.Helper()
	return benchEnvelopeOf(b, s, kid, benchTelemetry())
}

func benchEnvelopeOf(b *testing.B, s Signer, kid string, f *Frame) (env []byte, e *Envelope) {
	b.Helper()
	env, err := Sign(s, kid, f)
	if err != nil {
		b.Fatal(err)
	}
	e, err = ParseEnvelope(env)
	if err != nil {
		b.Fatal(err)
	}
	return env, e
}

func BenchmarkParseEnvelope(b *testing.B) {
	k := newTestKeys(b)
	env, e := benchEnvelope(b, k.ed, testKIDEd25519)
	b.ReportMetric(float64(len(e.Frame())), "frame-bytes")
	b.SetBytes(int64(len(env)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalCheck(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.ed, testKIDEd25519)
	fb := e.Frame()
	b.SetBytes(int64(len(fb)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkCanonical(fb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.ed, testKIDEd25519)
	fb := e.Frame()
	b.SetBytes(int64(len(fb)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(fb); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenEd25519 is the whole stateless receive path: parse, verify,
// decode.
// BenchmarkDecodeFrameExt decodes telemetry frames with an ext: the sample
// one (about 0.4 KiB) and a maximal one (MaxExtSize). A frame's ext is
// checked twice on the receiving path, by the frame-wide strict pass and
// again by StaticValidate; this measures what that costs.
func BenchmarkDecodeFrameExt(b *testing.B) {
	for _, c := range []struct {
		name string
		ext  Ext
	}{{"sample", Ext(sampleExtCanonical)}, {"max", maximalExt(b)}} {
		b.Run(c.name, func(b *testing.B) {
			f := sampleTelemetry()
			f.Body.(*Telemetry).Ext = c.ext
			fb, err := f.MarshalCanonical()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(fb)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeFrame(fb); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenEd25519(b *testing.B) {
	k := newTestKeys(b)
	env, _ := benchEnvelope(b, k.ed, testKIDEd25519)
	pub := k.ed.Public()
	b.ReportAllocs()
	for b.Loop() {
		e, err := ParseEnvelope(env)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Verify(pub); err != nil {
			b.Fatal(err)
		}
		if _, err := e.DecodeFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEd25519(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.ed, testKIDEd25519)
	pub := k.ed.Public()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(e.Frame(), e.Sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawEd25519Verify is the ceiling: crypto/ed25519 with no
// canonical-R check and cofactorless verification.
func BenchmarkRawEd25519Verify(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.ed, testKIDEd25519)
	pub := ed25519.PublicKey(k.ed.Public().Bytes())
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, e.Frame(), e.Sig) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkBatchVerifyEd25519 verifies batches of 64 frames from 64
// different senders; ns/sig is the cost per signature.
func BenchmarkBatchVerifyEd25519(b *testing.B) {
	const n = 64
	envs := make([]*Envelope, n)
	keys := make([]Verifier, n)
	for i := range n {
		priv := ed25519.NewKeyFromSeed(testSeed("bench " + string(rune('A'+i))))
		s, err := NewEd25519Signer(priv)
		if err != nil {
			b.Fatal(err)
		}
		f := benchTelemetry()
		f.Seq = uint64(i)
		_, envs[i] = benchEnvelopeOf(b, s, testKIDEd25519, f)
		keys[i] = s.Public()
	}
	var bv BatchVerifier
	b.ReportAllocs()
	for b.Loop() {
		for i := range n {
			bv.Add(envs[i], keys[i])
		}
		for _, err := range bv.Verify() {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
}

func BenchmarkVerifyES256(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.es, testKIDES256)
	pub := k.es.Public()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(e.Frame(), e.Sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.hs, testKIDHS256)
	b.SetBytes(int64(len(e.Frame())))
	b.ReportAllocs()
	for b.Loop() {
		if err := k.hs.Verify(e.Frame(), e.Sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignEd25519(b *testing.B) {
	k := newTestKeys(b)
	f := benchTelemetry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(k.ed, testKIDEd25519, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnvelopeDecodeFrame is the schema decode after ParseEnvelope
// (which has already made the strict and canonical checks).
func BenchmarkEnvelopeDecodeFrame(b *testing.B) {
	k := newTestKeys(b)
	_, e := benchEnvelope(b, k.ed, testKIDEd25519)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.DecodeFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

package ingest

import (
	"context"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestProcessParsedChecksAsProcessDoes: a frame the session already parsed
// goes through every check Process applies to its bytes: identity, the
// signature, de-duplication (a frame taken parsed is a duplicate as bytes,
// and the other way round).
func TestProcessParsedChecksAsProcessDoes(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	f.enroll("T2", "k2")
	live := []frame.Kind{frame.KindHeartbeat, frame.KindTelemetry}
	parsed := func(raw []byte) Result {
		t.Helper()
		env, err := frame.ParseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := env.DecodeFrame()
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.p.ProcessParsed(context.Background(), vehicle("T1"), Live, live, env, fr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	ok := f.sign("T1", "k1", telemetry("T1", 0, 1, f.now))
	if r := parsed(ok); r.Verdict != Accepted || r.Duplicate {
		t.Fatalf("a good frame, parsed: %+v", r)
	}
	if res, err := f.p.Process(context.Background(), vehicle("T1"), Live, live, [][]byte{ok}); err != nil || !res[0].Duplicate {
		t.Fatalf("the same frame as bytes after it was taken parsed: %+v, %v; want a duplicate", res, err)
	}
	if r := parsed(f.sign("T2", "k2", telemetry("T2", 0, 1, f.now))); r.Verdict != Rejected || r.Code != codes.VehicleMismatch {
		t.Fatalf("another vehicle's frame, parsed: %+v; want %s", r, codes.VehicleMismatch)
	}
	// T1's frame under T1's kid, with the signature of another frame.
	other, err := frame.ParseEnvelope(f.sign("T1", "k1", telemetry("T1", 0, 3, f.now)))
	if err != nil {
		t.Fatal(err)
	}
	env, err := frame.ParseEnvelope(f.sign("T1", "k1", telemetry("T1", 0, 2, f.now)))
	if err != nil {
		t.Fatal(err)
	}
	env.Sig = other.Sig
	if r := parsed(env.Encode()); r.Verdict != Rejected || r.Code != string(frame.CodeBadSignature) {
		t.Fatalf("a tampered frame, parsed: %+v; want %s", r, frame.CodeBadSignature)
	}
}

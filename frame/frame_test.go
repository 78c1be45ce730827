package frame

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRoundTripEveryKind(t *testing.T) {
	k := newTestKeys(t)
	for name, f := range sampleBodies() {
		for alg, s := range k.signers {
			t.Run(name+"/"+string(alg), func(t *testing.T) {
				env, err := Sign(s, k.kids[alg], f)
				if err != nil {
					t.Fatal(err)
				}
				if c, err := canonicalize(env); err != nil || !bytes.Equal(c, env) {
					t.Fatalf("Sign's envelope is not canonical: %s", env)
				}
				got, err := k.open(env)
				if err != nil {
					t.Fatalf("open(%s): %v", env, err)
				}
				if !reflect.DeepEqual(got, f) {
					t.Fatalf("decoded frame differs:\n got %#v\nwant %#v", got, f)
				}
			})
		}
	}
}

func TestSampleSizes(t *testing.T) {
	b, err := benchTelemetry().MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bench telemetry frame: %d bytes: %s", len(b), b)
	if len(b) < 560 || len(b) > 600 {
		t.Errorf("bench telemetry frame is %d bytes, want about 580", len(b))
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := ParseEnvelope([]byte(`{"alg":"none"}`))
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != CodeAlgNotAllowed || CodeOf(err) != CodeAlgNotAllowed {
		t.Fatalf("got %v", err)
	}
	if CodeOf(errors.New("x")) != "" {
		t.Fatal("CodeOf of a foreign error is not empty")
	}
}

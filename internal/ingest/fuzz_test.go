package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseBatch: the batch reader never panics, and whatever it accepts is
// an I-JSON object nested at most MaxBatchDepth deep whose frames are each
// one valid JSON value, at most MaxBatchFrames of them.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{`{"frames":[]}`, `{"frames":[{"alg":"Ed25519"},1,"x",null]}`, `{"frames":[`, `{"frames":{}}`,
		`{"frames":[],"frames":[]}`, "{\"frames\":[\"\xff\"]}", ` {"frames" : [ {} ] } `,
		`{"frames":[[[[[[[[]]]]]]]]}`, `{"frames":[[[[[[[[[]]]]]]]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, pe := ParseBatch(body)
		if pe != nil {
			if raws != nil || pe.Code == "" || pe.Status < 400 {
				t.Fatalf("refusal %+v with frames", pe)
			}
			return
		}
		if !json.Valid(body) || len(raws) > MaxBatchFrames || depthOf(body) > MaxBatchDepth {
			t.Fatalf("accepted an invalid body: %q", body)
		}
		for _, r := range raws {
			if !json.Valid(r) {
				t.Fatalf("element is not one JSON value: %q", r)
			}
		}
	})
}

// depthOf returns the deepest nesting of objects and arrays in valid JSON.
func depthOf(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, max := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return max
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > max {
				max = depth
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

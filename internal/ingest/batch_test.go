package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

func batchBody(envs ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"frames":[`)
	for i, e := range envs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func post(h http.Handler, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/vehicle/telemetry", bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestBatchPath(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	lim := ratelimit.New(ratelimit.Config{PerSecond: 1000, Burst: 600})
	h := &BatchHandler{Pipeline: f.p, Limiter: lim, Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) { return vehicle("T1"), true }}

	good := f.sign("T1", "k1", telemetry("T1", 0, 1, f.now))
	tampered := bytes.Replace(f.sign("T1", "k1", telemetry("T1", 0, 2, f.now)), []byte(`"seq":2`), []byte(`"seq":3`), 1)
	rec := post(h, "application/json", batchBody(good, tampered, []byte(`42`), good))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out struct{ Results []BatchResult }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	want := []BatchResult{{0, "accepted", "", false, nil}, {1, "rejected", "bad_signature", false, nil}, {2, "rejected", "schema", false, nil}, {3, "accepted", "", true, nil}}
	if len(out.Results) != len(want) {
		t.Fatalf("results %+v", out.Results)
	}
	for i := range want {
		g := out.Results[i]
		if g.Index != want[i].Index || g.Verdict != want[i].Verdict || g.Code != want[i].Code || g.Duplicate != want[i].Duplicate {
			t.Errorf("result %d = %+v, want %+v", i, g, want[i])
		}
	}

	// Whole-batch refusals: problem+json, an event, nothing stored.
	refusals := []struct {
		name, ctype string
		body        []byte
		status      int
		code        string
	}{
		{"not_json_content_type", "text/plain", batchBody(good), 415, codes.UnsupportedMediaType},
		{"not_json", "application/json", []byte(`{"frames":[`), 400, codes.MalformedBatch},
		{"duplicate_frames_member", "application/json", []byte(`{"frames":[],"frames":[]}`), 400, codes.MalformedBatch},
		{"unknown_member", "application/json", []byte(`{"frames":[],"x":1}`), 400, codes.MalformedBatch},
		{"invalid_utf8", "application/json", []byte("{\"frames\":[\"\xff\"]}"), 400, codes.MalformedBatch},
		{"trailing_garbage", "application/json", []byte(`{"frames":[]} {}`), 400, codes.MalformedBatch},
		{"frames_not_array", "application/json", []byte(`{"frames":{}}`), 400, codes.MalformedBatch},
		{"too_many_frames", "application/json", batchBody(bytes.Split(bytes.Repeat([]byte("1,"), MaxBatchFrames+1), []byte(","))[:MaxBatchFrames+1]...), 413, codes.TooManyFrames},
		{"oversize_body", "application/json", append(append([]byte(`{"frames":["`), bytes.Repeat([]byte("a"), MaxBatchBytes)...), `"]}`...), 413, codes.BodyTooLarge},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			n, nev := f.stored("T1"), len(f.mem.ByCode(c.code))
			rec := post(h, c.ctype, c.body)
			if rec.Code != c.status || rec.Header().Get("Content-Type") != problem.ContentType || !strings.Contains(rec.Body.String(), `"code":"`+c.code+`"`) {
				t.Fatalf("got %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if f.stored("T1") != n || len(f.mem.ByCode(c.code)) != nev+1 {
				t.Fatal("refusal stored something or emitted no event")
			}
		})
	}
}

// Regression for a limiter that never limited: over the rate is 429 with
// Retry-After, and nothing is processed.
func TestBatchRateLimited(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	h := &BatchHandler{Pipeline: f.p, Limiter: ratelimit.New(ratelimit.Config{PerSecond: 1, Burst: 2}), Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) { return vehicle("T1"), true }}
	body := batchBody(f.sign("T1", "k1", telemetry("T1", 0, 1, f.now)), f.sign("T1", "k1", telemetry("T1", 0, 2, f.now)))
	if rec := post(h, "application/json", body); rec.Code != 200 {
		t.Fatalf("first batch: %d", rec.Code)
	}
	rec := post(h, "application/json", batchBody(f.sign("T1", "k1", telemetry("T1", 0, 3, f.now))))
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || len(f.mem.ByCode(codes.RateLimited)) != 1 {
		t.Fatalf("over the rate: %d Retry-After=%q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if f.stored("T1") != 2 {
		t.Fatal("a rate-limited frame was stored")
	}
}

func TestBatchNeedsVehicle(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	h := &BatchHandler{Pipeline: f.p, Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) {
			return principal.Principal{Kind: principal.Client, ID: "acme"}, true
		}}
	if rec := post(h, "application/json", batchBody()); rec.Code != 403 {
		t.Fatalf("client certificate on the vehicle path: %d", rec.Code)
	}
}

// TestAttackDeeplyNestedBatch: a body nested deeper than any envelope may
// be (MaxBatchDepth) is refused as a whole, 400 batch_too_deep, as
// PROTOCOL.md says, before any frame in it is verified or stored: the
// valid frame in front of the deep element is not accepted. A body nested
// exactly to the limit is still read frame by frame. Reading stops at the
// first level too deep, however deep the body goes.
func TestAttackDeeplyNestedBatch(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	h := &BatchHandler{Pipeline: f.p, Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) { return vehicle("T1"), true }}
	good := f.sign("T1", "k1", telemetry("T1", 0, 1, f.now))
	nest := func(levels int) []byte { // an element nesting levels arrays
		return []byte(strings.Repeat("[", levels) + strings.Repeat("]", levels))
	}
	elementLimit := MaxBatchDepth - framesDepth // levels an element may nest

	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"one level too deep after a valid frame", batchBody(good, nest(elementLimit+1))},
		{"deep object in a frame's ext", batchBody(good, []byte(`{"alg":"Ed25519","frame":{"ext":`+strings.Repeat(`{"a":`, 20)+`1`+strings.Repeat("}", 20)+`}}`))},
		{"nesting to the body size limit", batchBody(good, nest((MaxBatchBytes-len(good))/2-64))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nev := len(f.mem.ByCode(codes.BatchTooDeep))
			rec := post(h, "application/json", tc.body)
			if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != problem.ContentType ||
				!strings.Contains(rec.Body.String(), `"code":"`+codes.BatchTooDeep+`"`) {
				t.Fatalf("got %d %s %.200s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if f.stored("T1") != 0 {
				t.Fatal("a frame of a refused batch was stored")
			}
			if len(f.mem.ByCode(codes.BatchTooDeep)) != nev+1 {
				t.Fatal("no batch_too_deep event")
			}
		})
	}

	// At the limit the body is a batch: the deep element is that frame's
	// rejection, the valid frame is accepted.
	rec := post(h, "application/json", batchBody(good, nest(elementLimit)))
	var out struct{ Results []BatchResult }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Results) != 2 ||
		out.Results[0].Verdict != "accepted" || out.Results[1].Verdict != "rejected" {
		t.Fatalf("body at the depth limit: %d %s", rec.Code, rec.Body)
	}
}

// TestParseBatchElementBytes: each element is returned exactly as sent,
// without the separators and white space around it.
func TestParseBatchElementBytes(t *testing.T) {
	raws, pe := ParseBatch([]byte(" { \"frames\" : [ {\"a\" : [1, 2]} ,\n\t\"x\" ,3,[ ] , null ] } "))
	if pe != nil {
		t.Fatal(pe)
	}
	want := []string{`{"a" : [1, 2]}`, `"x"`, `3`, `[ ]`, `null`}
	if len(raws) != len(want) {
		t.Fatalf("%d elements: %q", len(raws), raws)
	}
	for i := range want {
		if string(raws[i]) != want[i] {
			t.Errorf("element %d = %q, want %q", i, raws[i], want[i])
		}
	}
}

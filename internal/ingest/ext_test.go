package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// markupExt is an ext a TMS must get back exactly as the truck signed it:
// markup and characters a JSON encoder likes to escape (<, >, &, U+2028,
// U+2029), an escaped quote and control character, non-ASCII names.
func markupExt(t testing.TB) frame.Ext {
	t.Helper()
	e, err := frame.NewExt([]byte(`{"note":"<script>alert(1)</script> & \u2028\u2029 \"q\" \u0007","Köln":"日本語 😀","cargo":{"reefer_c":-18.5,"seal":"SL-000417"}}`))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReadAPIReturnsExtVerbatim: on both engines, a telemetry frame with
// ext is stored and returned by every read route with the frame's bytes
// unchanged (so ext round-trips byte for byte, and the raw envelope still
// verifies), served as JSON the browser must not sniff as HTML.
func TestReadAPIReturnsExtVerbatim(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		f.enroll("T1", "k1")
		fr := telemetry("T1", 0, 10, f.now)
		fr.Body.(*frame.Telemetry).Ext = markupExt(t)
		sent := f.sign("T1", "k1", fr)
		if r := f.send(vehicle("T1"), Live, sent); r[0].Verdict != Accepted {
			t.Fatalf("frame with ext: %+v", r[0])
		}
		env, _ := frame.ParseEnvelope(sent)
		want := env.Frame()

		mux := http.NewServeMux()
		api := &ReadAPI{Store: f.st, Peer: func(*http.Request) (principal.Principal, bool) {
			return principal.Principal{Kind: principal.Client, ID: "tms-1"}, true
		}}
		for p, h := range api.Routes() {
			mux.Handle(p, h)
		}
		get := func(path string) []byte {
			t.Helper()
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
			}
			if ct, ns := w.Header().Get("Content-Type"), w.Header().Get("X-Content-Type-Options"); ct != "application/json" || ns != "nosniff" {
				t.Fatalf("GET %s: Content-Type %q, X-Content-Type-Options %q", path, ct, ns)
			}
			return w.Body.Bytes()
		}

		var latest struct{ Frame json.RawMessage }
		if err := json.Unmarshal(get("/v1/vehicles/T1/telemetry/latest"), &latest); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(latest.Frame, want) {
			t.Errorf("latest: frame\n got %s\nwant %s", latest.Frame, want)
		}

		var list struct {
			Frames []struct{ Frame json.RawMessage }
		}
		q := url.Values{"from": {f.now.Add(-time.Minute).Format(time.RFC3339Nano)}, "to": {f.now.Add(time.Minute).Format(time.RFC3339Nano)}}
		if err := json.Unmarshal(get("/v1/vehicles/T1/telemetry?"+q.Encode()), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Frames) != 1 || !bytes.Equal(list.Frames[0].Frame, want) {
			t.Errorf("list: %d frames, first\n got %s\nwant %s", len(list.Frames), list.Frames, want)
		}

		raw, err := frame.ParseEnvelope(get("/v1/vehicles/T1/frames/0/10/raw"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw.Frame(), want) || raw.Verify(f.keys["T1/k1"].(*frame.Ed25519Signer).Public()) != nil {
			t.Errorf("raw: frame differs or does not verify:\n got %s\nwant %s", raw.Frame(), want)
		}
		d, err := raw.DecodeFrame()
		if err != nil || !bytes.Equal(d.Body.(*frame.Telemetry).Ext, markupExt(t)) {
			t.Errorf("raw: ext does not decode to what was sent (%v)", err)
		}
	})
}

// TestAttackExtCannotSteerPlausibility: a truck's ext claiming other
// speeds neither hides a wheel vs GNSS disagreement in the frame's own
// members nor raises one where they agree: plausibility reads the schema
// only.
func TestAttackExtCannotSteerPlausibility(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	f.enroll("T2", "k2")
	calm, err := frame.NewExt([]byte(`{"gnss":{"speed_mps":10},"wheel_speed_mps":10,"speed_mps":10}`))
	if err != nil {
		t.Fatal(err)
	}
	wild, err := frame.NewExt([]byte(`{"gnss":{"speed_mps":99,"lat":0},"wheel_speed_mps":1,"speed_mps":0}`))
	if err != nil {
		t.Fatal(err)
	}
	var hidden, raised []string
	for i := range uint64(plausibility.DefaultSpeedDisagreeFrames + 1) {
		ts := f.now.Add(time.Duration(i) * 100 * time.Millisecond)
		// T1: GNSS 24.6 m/s, wheels 10 m/s (a disagreement); ext says all is 10.
		a := telemetry("T1", 0, i, ts)
		a.Body.(*frame.Telemetry).WheelSpeedMPS = 10
		a.Body.(*frame.Telemetry).Ext = calm
		// T2: consistent members; ext shouts.
		b := telemetry("T2", 0, i, ts)
		b.Body.(*frame.Telemetry).Ext = wild
		ra := f.send(vehicle("T1"), Live, f.sign("T1", "k1", a))
		rb := f.send(vehicle("T2"), Live, f.sign("T2", "k2", b))
		if ra[0].Verdict != Accepted || rb[0].Verdict != Accepted {
			t.Fatalf("frame %d: %+v %+v", i, ra[0], rb[0])
		}
		hidden = append(hidden, ra[0].Findings...)
		raised = append(raised, rb[0].Findings...)
	}
	if !strings.Contains(strings.Join(hidden, ","), "speed_disagreement") {
		t.Errorf("ext hid the disagreement: findings %v", hidden)
	}
	if len(raised) != 0 {
		t.Errorf("ext raised findings on consistent members: %v", raised)
	}
}

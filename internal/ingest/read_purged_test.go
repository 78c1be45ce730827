package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestReadAPISaysPurged: on both engines, once retention purged a frame's
// payload, no read route returns an empty payload as the frame: the views
// carry purged_at and the kept hash and no frame, the raw route is 410
// frame_purged; an exact re-send is still answered as a duplicate.
func TestReadAPISaysPurged(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		f.enroll("T1", "k1")
		sent := f.sign("T1", "k1", telemetry("T1", 0, 10, f.now))
		if r := f.send(vehicle("T1"), Live, sent); r[0].Verdict != Accepted {
			t.Fatalf("frame: %+v", r[0])
		}
		env, _ := frame.ParseEnvelope(sent)
		h := sha256.Sum256(env.Frame())
		if n, _, err := f.st.PurgeFramePayloads(context.Background(), f.now.Add(time.Second), f.now, 0); err != nil || n != 1 {
			t.Fatalf("purge = %d, %v", n, err)
		}

		mux := http.NewServeMux()
		api := &ReadAPI{Store: f.st, Peer: func(*http.Request) (principal.Principal, bool) {
			return principal.Principal{Kind: principal.Client, ID: "tms-1"}, true
		}}
		for p, hd := range api.Routes() {
			mux.Handle(p, hd)
		}
		get := func(path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			return w
		}
		type view struct {
			Frame       json.RawMessage
			PurgedAt    *time.Time `json:"purged_at"`
			FrameSHA256 string     `json:"frame_sha256"`
		}
		check := func(name string, v view) {
			t.Helper()
			if v.Frame != nil || v.PurgedAt == nil || !v.PurgedAt.Equal(f.now.Truncate(time.Microsecond)) || v.FrameSHA256 != hex.EncodeToString(h[:]) {
				t.Fatalf("%s: frame %q purged_at %v hash %s", name, v.Frame, v.PurgedAt, v.FrameSHA256)
			}
		}
		var latest view
		if w := get("/v1/vehicles/T1/telemetry/latest"); w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &latest) != nil {
			t.Fatalf("latest: %d %s", w.Code, w.Body)
		}
		check("latest", latest)
		var list struct{ Frames []view }
		q := url.Values{"from": {f.now.Add(-time.Minute).Format(time.RFC3339Nano)}, "to": {f.now.Add(time.Minute).Format(time.RFC3339Nano)}}
		if w := get("/v1/vehicles/T1/telemetry?" + q.Encode()); w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Frames) != 1 {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		check("list", list.Frames[0])
		w := get("/v1/vehicles/T1/frames/0/10/raw")
		var p struct{ Code string }
		if w.Code != http.StatusGone || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Code != codes.FramePurged {
			t.Fatalf("raw of a purged frame: %d %s", w.Code, w.Body)
		}

		if r := f.send(vehicle("T1"), Live, sent); r[0].Verdict != Accepted || !r[0].Duplicate {
			t.Fatalf("exact re-send of a purged frame: %+v", r[0])
		}
	})
}

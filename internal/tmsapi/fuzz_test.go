package tmsapi

import (
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// FuzzTender: decoding and checking any bytes as a tender never panics,
// and a tender that passes, encoded again and decoded, passes again with
// the same encoding (nothing is lost or invented on the way).
func FuzzTender(f *testing.F) {
	f.Add([]byte(`{"tender_id":"T-1","purpose":"original","references":{"po":"PO-1"},"carrier":{"scac":"ACME"},"equipment":"dry_van",` +
		`"stops":[{"sequence":1,"type":"pickup","facility":{"name":"A","address":"a","lat":1,"lon":2,"tz":"Europe/Paris"},"window":{"start":"2026-12-06T08:00:00Z","end":"2026-12-06T09:00:00Z"}},` +
		`{"sequence":2,"type":"delivery","facility":{"name":"B","address":"b","lat":3,"lon":4,"tz":"UTC"},"window":{"start":"2026-12-06T10:00:00Z","end":"2026-12-06T11:00:00Z"}}],` +
		`"weights":{"gross_kg":1000},"hazmat":[{"un_number":"UN1203","class":"3","proper_shipping_name":"Gasoline"}],"respond_by":"2026-12-05T18:00:00Z"}`))
	f.Add([]byte(`{"tender_id":"x","stops":[{"sequence":-1}],"weights":{"gross_kg":1e400}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		var tn Tender
		if err := json.Unmarshal(b, &tn, json.RejectUnknownMembers(true)); err != nil {
			return
		}
		if tn.check(now) != "" {
			return
		}
		enc, err := json.Marshal(tn, json.Deterministic(true))
		if err != nil {
			t.Fatalf("a valid tender does not encode: %v", err)
		}
		var again Tender
		if err := json.Unmarshal(enc, &again, json.RejectUnknownMembers(true)); err != nil {
			t.Fatalf("a valid tender's encoding does not decode: %v\n%s", err, enc)
		}
		if why := again.check(now); why != "" {
			t.Fatalf("a valid tender is invalid after a round trip: %s\n%s", why, enc)
		}
		enc2, _ := json.Marshal(again, json.Deterministic(true))
		if string(enc) != string(enc2) {
			t.Fatalf("the round trip changed the tender:\n%s\n%s", enc, enc2)
		}
	})
}

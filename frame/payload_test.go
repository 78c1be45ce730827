package frame

import (
	"testing"
)

func TestParseCommandPayload(t *testing.T) {
	p, err := ParseCommandPayload([]byte(` {"tender_id":"T-1","stops":[{"seq":0,"type":"pickup","facility":"Dock 4","lat":41.5,"lon":-87.6,
		"tz":"America/Chicago","window_start":"2026-12-05T16:00:00.000Z","window_end":"2026-12-05T18:00:00.000Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.TenderID != "T-1" || len(p.Stops) != 1 || p.Stops[0].Facility != "Dock 4" || p.Stops[0].Lat != 41.5 {
		t.Fatalf("parsed %+v", p)
	}
	for name, in := range map[string]string{
		"unknown member":   `{"tender_id":"T-1","route":[]}`,
		"duplicate member": `{"tender_id":"T-1","tender_id":"T-2"}`,
		"empty array":      `{"stops":[]}`,
		"not an object":    `[1]`,
		"not JSON":         `{"a":`,
		"too deep":         `{"stops":[{"seq":{"a":{"b":{"c":{}}}}}]}`,
	} {
		if _, err := ParseCommandPayload([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// tmsGet sends a GET of the TMS API, validated against api/openapi.yaml.
func tmsGet(g *gateway, c tls.Certificate, token, path string) (int, map[string]any) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+g.addrs.TMS+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	status, body, _ := tmsSend(g, c, req)
	return status, body
}

// TestTrackingEndToEnd: through `serve` on both engines (PostgreSQL: the
// TMS on one replica, the truck on the other): a tender is dispatched to
// a truck that accepts it; the truck's agent reports its stops
// (ReportStop) and an ETA in its telemetry; GET /v1/tenders/{id}/events
// shows the stops in order with their EDI 214 codes and the ETA. A stop
// of the load reported by another truck, and one of a load never
// dispatched, are refused with stop_event_not_dispatched and leave the
// events empty; a stop the dispatch does not have is
// stop_event_unknown_stop; another carrier's client reading the events
// gets 404.
func TestTrackingEndToEnd(t *testing.T) {
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		av := &avStack{}
		tr := startTruck(t, b, "truck-t", truckOptions{issuer: a, commands: av})
		a.mustCLI("vehicle", "carrier", "set", "truck-t", "acme")
		disp := issueTMS(a, "client", "tms-t", "dispatcher", "--carrier", "acme")
		other := issueTMS(a, "client", "tms-o", "dispatcher", "--carrier", "bolt")
		tok := a.token(disp, "tenders:write dispatch:write commands:read")
		tokO := a.token(other, "commands:read")

		tender := `{"tender_id":"TRK-L1","purpose":"original","references":{"bill_of_lading":"BOL-1"},"carrier":{"scac":"ACME"},` +
			`"equipment":"dry_van","stops":[` +
			`{"sequence":1,"type":"pickup","facility":{"name":"DC 4","address":"1 Main St","lat":41.5,"lon":-88.1,"tz":"America/Chicago"},"window":{"start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}},` +
			`{"sequence":2,"type":"delivery","facility":{"name":"Crossdock","address":"2 Elm St","lat":35.1,"lon":-90.0,"tz":"America/Chicago"},"window":{"start":"2030-01-01T16:00:00Z","end":"2030-01-01T18:00:00Z"}}],` +
			`"weights":{"gross_kg":12000},"respond_by":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
		if status, ans, _ := tmsPost(a, disp, tok, "/v1/tenders", "t-1", tender); status != http.StatusCreated || ans["answer"] != "accept" {
			t.Fatalf("tender: %d %v", status, ans)
		}
		dispatch := `{"tender_id":"TRK-L1","vehicle_id":"truck-t","route":{"waypoints":[{"seq":1,"lat":41.5,"lon":-88.1},{"seq":2,"lat":35.1,"lon":-90.0}]}}`
		status, cmd, _ := tmsPost(a, disp, tok, "/v1/dispatches", "d-1", dispatch)
		if status != http.StatusAccepted {
			t.Fatalf("dispatch: %d %v", status, cmd)
		}
		id := cmd["id"].(string)
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, v := tmsGet(a, disp, tok, "/v1/commands/"+id)
			if v["state"] == "accepted" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dispatch was never accepted: %v", v)
			}
			time.Sleep(50 * time.Millisecond)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Another truck of the carrier reports a stop of truck-t's load, and
		// truck-t one of a load never dispatched: refused, nothing recorded,
		// the TMS sees no event.
		intruder := startTruck(t, b, "truck-x", truckOptions{issuer: a, commands: &avStack{}})
		a.mustCLI("vehicle", "carrier", "set", "truck-x", "acme")
		var refused *agent.StopRefusedError
		err := intruder.a.ReportStop(ctx, agent.StopEvent{TenderID: "TRK-L1", StopSeq: 1, Status: frame.StopArrived, At: time.Now(), Lat: 41.5, Lon: -88.1})
		if !errors.As(err, &refused) || refused.Code != codes.StopEventNotDispatched {
			t.Fatalf("another truck's stop of the load: %v", err)
		}
		err = tr.a.ReportStop(ctx, agent.StopEvent{TenderID: "TRK-L9", StopSeq: 1, Status: frame.StopArrived, At: time.Now(), Lat: 41.5, Lon: -88.1})
		if !errors.As(err, &refused) || refused.Code != codes.StopEventNotDispatched {
			t.Fatalf("a stop of a load not dispatched: %v", err)
		}
		if status, v := tmsGet(a, disp, tok, "/v1/tenders/TRK-L1/events"); status != http.StatusOK || len(v["events"].([]any)) != 0 {
			t.Fatalf("events after the refused stops: %d %v", status, v)
		}
		err = tr.a.ReportStop(ctx, agent.StopEvent{TenderID: "TRK-L1", StopSeq: 7, Status: frame.StopArrived, At: time.Now(), Lat: 41.5, Lon: -88.1})
		if !errors.As(err, &refused) || refused.Code != codes.StopEventUnknownStop {
			t.Fatalf("a stop the dispatch does not have: %v", err)
		}
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		steps := []struct {
			stop   uint64
			status frame.StopStatus
			code   string
		}{{1, frame.StopArrived, "X3"}, {1, frame.StopLoaded, "CP"}, {1, frame.StopDeparted, "AF"}, {2, frame.StopArrived, "X1"}, {2, frame.StopDelivered, "D1"}}
		for i, s := range steps {
			if err := tr.a.ReportStop(ctx, agent.StopEvent{TenderID: "TRK-L1", StopSeq: s.stop, Status: s.status,
				At: t0.Add(time.Duration(i) * time.Minute), Lat: 41.5, Lon: -88.1}); err != nil {
				t.Fatalf("stop %d: %v", i, err)
			}
		}
		eta := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Millisecond)
		if err := tr.a.SetETA("TRK-L1", 2, eta); err != nil {
			t.Fatal(err)
		}
		if err := tr.a.SendTelemetry(time.Now(), frame.Telemetry{State: frame.StateDriving, GNSS: frame.GNSS{Fix: frame.Fix3D, Lat: 40, Lon: -89, SpeedMPS: 20},
			WheelSpeedMPS: 20, Health: frame.Health{Faults: []string{}, BatteryV: 27, CPUTempC: 50}}); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			status, got = tmsGet(a, disp, tok, "/v1/tenders/TRK-L1/events")
			if status != http.StatusOK {
				t.Fatalf("GET events: %d %v", status, got)
			}
			if got["eta"] != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no ETA: %v", got)
			}
		}
		evs := got["events"].([]any)
		if len(evs) != len(steps) {
			t.Fatalf("%d events: %v", len(evs), got)
		}
		for i, s := range steps {
			ev := evs[i].(map[string]any)
			if ev["code"] != s.code || ev["stop_seq"] != float64(s.stop) || ev["vehicle_id"] != "truck-t" {
				t.Fatalf("event %d: %v, want %s", i, ev, s.code)
			}
		}
		if e := got["eta"].(map[string]any); e["vehicle_id"] != "truck-t" || e["stop_seq"] != float64(2) || !strings.HasPrefix(e["at"].(string), eta.Format("2006-01-02T15:04:05")) {
			t.Fatalf("eta: %v", e)
		}
		if status, v := tmsGet(a, other, tokO, "/v1/tenders/TRK-L1/events"); status != http.StatusNotFound || v["code"] != codes.NotFound {
			t.Fatalf("another carrier's client: %d %v", status, v)
		}
		if status, _ := tmsGet(a, disp, tok, "/v1/tenders/TRK-L9/events"); status != http.StatusNotFound {
			t.Fatalf("an unknown tender: %d", status)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// dfwArea is an operating area around Dallas–Fort Worth, written as an
// operator writes plausibility.operating_area: the four corners of a box,
// "lat,lon" as a map shows them.
const dfwArea = "32.0, -97.5; 33.5, -97.5; 33.5, -96.0; 32.0, -96.0"

// TestAttackTruckOutsideOperatingAreaRaisesFinding: a truck reports a fix
// outside the fleet's operating area (a stolen or diverted truck, or a
// spoofed GNSS position). With plausibility.operating_area set the way an
// operator sets it (here FIFTHWHEEL_PLAUSIBILITY_OPERATING_AREA), the
// gateway serve runs raises outside_operating_area: the authentic frame is
// accepted with the finding (plausibility never refuses a signed frame), and
// a finding event is recorded in the store for detection. A truck inside
// the area raises nothing. On both store engines.
func TestAttackTruckOutsideOperatingAreaRaisesFinding(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			outsideOperatingArea(t, engine)
		})
	}
}

func outsideOperatingArea(t *testing.T, engine string) {
	env := []string{"FIFTHWHEEL_PLAUSIBILITY_OPERATING_AREA=" + dfwArea}
	data := filepath.Join(t.TempDir(), "d")
	state := []string{"--data", data}
	if engine == "postgres" {
		state = append(state, "--store", storetest.PostgresConfig(t).URL)
	}
	g := startGateway(t, data, state, env)

	send := func(vehicle string, lat, lon float64) []string {
		t.Helper()
		cert, _ := g.issue("vehicle", vehicle)
		key := g.addFrameKey(vehicle)
		f := telemetryFrame(vehicle, 0, 0, time.Now())
		f.Body.(*frame.Telemetry).GNSS.Lat, f.Body.(*frame.Telemetry).GNSS.Lon = lat, lon
		env, err := frame.Sign(key.signer, key.kid, f)
		if err != nil {
			t.Fatal(err)
		}
		body := append(append([]byte(`{"frames":[`), env...), "]}"...)
		status, resp, err := post(t, g.client(cert), "https://"+g.addrs.Vehicle+"/v1/vehicle/telemetry", body)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: POST: %v %d %s", vehicle, err, status, resp)
		}
		var res struct{ Results []ingest.BatchResult }
		if err := json.NewDecoder(bytes.NewReader(resp)).Decode(&res); err != nil || len(res.Results) != 1 || res.Results[0].Verdict != ingest.Accepted {
			t.Fatalf("%s: %v %s", vehicle, err, resp)
		}
		return res.Results[0].Findings
	}

	// Chicago: far outside the area.
	if got := send("truck-out", 41.878113, -87.629799); !slices.Equal(got, []string{codes.OutsideOperatingArea}) {
		t.Fatalf("truck outside the area: findings %v, want [%s]", got, codes.OutsideOperatingArea)
	}
	e := g.waitEvent(codes.OutsideOperatingArea, `"actor":"urn:fifthwheel:vehicle:truck-out"`)
	if !strings.Contains(string(e.Body), fmt.Sprintf(`"severity":%d`, event.SeverityHigh)) {
		t.Errorf("finding event is not high severity: %s", e.Body)
	}

	// Dallas: inside.
	if got := send("truck-in", 32.7767, -96.7970); len(got) != 0 {
		t.Fatalf("truck inside the area: findings %v, want none", got)
	}
	if fs := g.frames("truck-in"); len(fs) != 1 || fs[0].Verdict != "accepted" || fs[0].Findings != "" {
		t.Fatalf("truck inside the area: frame rows %+v, want one accepted without findings", fs)
	}
	for _, e := range g.events(codes.OutsideOperatingArea) {
		if strings.Contains(string(e.Body), "truck-in") {
			t.Fatalf("finding for the truck inside the area: %s", e.Body)
		}
	}
}

// TestBadOperatingAreaStopsServe: serve refuses to start with an operating
// area it cannot use (vertices out of order), naming the setting, rather
// than run with the rule silently wrong. (Were it to start, it stops when
// ctx ends, and the test fails.)
func TestBadOperatingAreaStopsServe(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr syncBuf
	code := run(ctx, []string{"serve", "--dev", "--data", data, "--listen-vehicle", "127.0.0.1:0", "--listen-tms", "127.0.0.1:0",
		"--listen-ops", "127.0.0.1:0"}, io.Discard, &stderr,
		[]string{"FIFTHWHEEL_PLAUSIBILITY_OPERATING_AREA=32,-97.5; 33.5,-96; 33.5,-97.5; 32,-96"})
	if code != 2 || !strings.Contains(stderr.String(), "FIFTHWHEEL_PLAUSIBILITY_OPERATING_AREA: plausibility.operating_area: edges 1-2 and 3-4 cross") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

package tmsapi_test

import (
	"context"
	"testing"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestDispatchPayloadIsWhatTheVehicleParses: the payload a dispatch stores
// is what the session signs and the vehicle decodes, so it must pass the
// frame's strict payload parser as stored (appointment windows in the
// frame's one time form, exactly milliseconds). A tender's windows without
// milliseconds were once stored as given, and every delivery was refused.
func TestDispatchPayloadIsWhatTheVehicleParses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("T-WIRE", false)
		id := e.dispatch("T-WIRE", "TRK-1")
		c, err := e.st.GetCommand(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		p, err := frame.ParseCommandPayload(c.Payload)
		if err != nil {
			t.Fatalf("the stored payload does not parse as the vehicle will read it: %v\n%s", err, c.Payload)
		}
		if len(p.Stops) != 2 || p.Stops[0].WindowStart.IsZero() || len(p.Waypoints) != 3 {
			t.Errorf("parsed payload %+v", p)
		}
	})
}

package command_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAttackCommandToHeldVehicle: an incident's containment holds a
// vehicle's commands (package incident). A TMS client then creating a
// command for it is refused with vehicle_commands_held, and a command
// queued before the hold is not delivered (it stays queued) until the
// hold is released.
func TestAttackCommandToHeldVehicle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se)
		if err := e.st.CreateVehicle(ctx, store.Vehicle{ID: "TRK-1", Status: store.VehicleActive, Carrier: "acme-freight", CreatedAt: e.clk.now()}); err != nil {
			t.Fatal(err)
		}
		queued := e.create(t, plain())
		if queued.State != command.Queued {
			t.Fatalf("a plain dispatch is %s, want queued", queued.State)
		}
		if err := e.st.SetVehicleHold(ctx, store.VehicleHold{Vehicle: "TRK-1", Incident: "inc-1", Actor: ann.String(), At: e.clk.now(), Reason: "contain"}); err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Create(ctx, plain())
		wantRefusal(t, d, err, codes.VehicleCommandsHeld)
		if entry, _ := codes.Lookup(codes.VehicleCommandsHeld); entry.Status != 409 {
			t.Fatalf("vehicle_commands_held answers %d, want 409", entry.Status)
		}
		if cs, _ := e.st.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), Vehicle: "TRK-1"}); len(cs) != 1 {
			t.Fatalf("the refused command was stored: %d commands", len(cs))
		}
		_, err = e.svc.Deliver(ctx, queued.ID, "gw-1")
		var ce *command.Error
		if !errors.As(err, &ce) || ce.Code != codes.VehicleCommandsHeld {
			t.Fatalf("delivery to a held vehicle: %v", err)
		}
		if got := e.get(t, queued.ID); got.State != command.Queued {
			t.Fatalf("the held command is %s, want still queued", got.State)
		}
		if err := e.st.ReleaseVehicleHold(ctx, "TRK-1"); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(time.Second)
		if d, err := e.svc.Deliver(ctx, queued.ID, "gw-1"); err != nil || d.Command.State != command.Delivered {
			t.Fatalf("delivery after the release: %+v, %v", d.Command, err)
		}
	})
}

package session

import (
	"context"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// queueCancel queues, for vehicle, a command that needs no approval: a
// cancel of another command.
func (g *gw) queueCancel(vehicle string) store.Command {
	g.t.Helper()
	d, err := g.cmds.Create(context.Background(), command.Request{Vehicle: vehicle, Carrier: "acme",
		RequestedBy: principal.Principal{Kind: principal.Client, ID: "tms-1"}, Type: command.TypeCancel,
		Payload: []byte(`{"cancels":"cmd-0","reason":"load_withdrawn"}`)})
	if err != nil {
		g.t.Fatal(err)
	}
	if d.Command.State != command.Queued {
		g.t.Fatalf("command %s", d.Command.State)
	}
	return d.Command
}

func (g *gw) commandState(id string) store.CommandState {
	g.t.Helper()
	c, err := g.st.GetCommand(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return c.State
}

// TestCommandDeliveredOnSession: a queued command goes out after the
// handshake, signed with the command key (not the frame key), with the
// stored cmd_seq and nonce, claimed (delivered) before it is written; the
// vehicle's first answer is recorded, and a later different answer is an
// event only.
func TestCommandDeliveredOnSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true})
		v := g.enroll("truck-1")
		c := g.queueCancel("truck-1")
		r := g.dial(v)
		r.handshake(frame.StateDriving)
		f := r.expect(frame.KindCommand) // read verified it under the command key
		body := f.Body.(*frame.Command)
		if body.CommandID != c.ID || body.CmdSeq != uint64(c.CmdSeq) || !frame.EqualNonce(body.Nonce, c.Nonce) ||
			body.Payload.Cancels != "cmd-0" || body.Risk != frame.RiskLow {
			t.Fatalf("command %+v; stored %+v", body, c)
		}
		if st := g.commandState(c.ID); st != command.Delivered {
			t.Fatalf("sent, and the store says %s", st)
		}
		r.send(&frame.CommandAck{CommandID: c.ID, CmdSeq: body.CmdSeq, Verdict: frame.VerdictAccepted})
		waitFor(t, 5*time.Second, "accepted", func() bool { return g.commandState(c.ID) == command.Accepted })
		r.send(&frame.CommandAck{CommandID: c.ID, CmdSeq: body.CmdSeq, Verdict: frame.VerdictRejected, Reason: codes.CommandInfeasible})
		g.waitEvent(codes.CommandStateConflict, 1)
		if st := g.commandState(c.ID); st != command.Accepted {
			t.Fatalf("a second answer changed the command to %s", st)
		}

		// A command queued while the session is up goes out at once.
		c2 := g.queueCancel("truck-1")
		f2 := r.expect(frame.KindCommand).Body.(*frame.Command)
		if f2.CommandID != c2.ID || f2.CmdSeq <= body.CmdSeq {
			t.Fatalf("second command %+v", f2)
		}
	})
}

// TestAttackCommandAckForAnotherVehiclesCommand: an answer naming another
// vehicle's command, an unknown command, or the right command with another
// cmd_seq is refused with an event and changes nothing.
func TestAttackCommandAckForAnotherVehiclesCommand(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true})
		va, vb := g.enroll("truck-a"), g.enroll("truck-b")
		rb := g.dial(vb)
		rb.handshake(frame.StateDriving)
		cb := g.queueCancel("truck-b")
		rb.expect(frame.KindCommand)
		ra := g.dial(va)
		ra.handshake(frame.StateDriving)

		ra.send(&frame.CommandAck{CommandID: cb.ID, CmdSeq: uint64(cb.CmdSeq), Verdict: frame.VerdictAccepted})
		g.waitEvent(codes.VehicleMismatch, 1)
		ra.send(&frame.CommandAck{CommandID: "cmd-nope", CmdSeq: 1, Verdict: frame.VerdictAccepted})
		rb.send(&frame.CommandAck{CommandID: cb.ID, CmdSeq: uint64(cb.CmdSeq) + 1, Verdict: frame.VerdictAccepted})
		g.waitEvent(codes.CommandConflict, 2)
		if st := g.commandState(cb.ID); st != command.Delivered {
			t.Fatalf("truck B's command is %s after truck A's answers", st)
		}
		rb.send(&frame.CommandAck{CommandID: cb.ID, CmdSeq: uint64(cb.CmdSeq), Verdict: frame.VerdictAccepted})
		waitFor(t, 5*time.Second, "B's answer", func() bool { return g.commandState(cb.ID) == command.Accepted })
	})
}

// TestAttackCommandDeliveredAfterExpiry: a command whose expiry passes
// while its vehicle is offline is never sent when it connects; it is
// expired instead.
func TestAttackCommandDeliveredAfterExpiry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true})
		v := g.enroll("truck-1")
		d, err := g.cmds.Create(context.Background(), command.Request{Vehicle: "truck-1", Carrier: "acme",
			RequestedBy: principal.Principal{Kind: principal.Client, ID: "tms-1"}, Type: command.TypeCancel,
			Payload: []byte(`{"cancels":"cmd-0"}`), TTL: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(d.Command.ExpiresAt) + 50*time.Millisecond)
		r := g.dial(v)
		r.handshake(frame.StateDriving)
		waitFor(t, 5*time.Second, "expired", func() bool { return g.commandState(d.Command.ID) == command.Expired })
		r.send(&frame.Heartbeat{State: frame.StateDriving})
		if f := r.expect(frame.KindAck); f.Kind() != frame.KindAck {
			t.Fatalf("got %s", f.Kind())
		}
	})
}

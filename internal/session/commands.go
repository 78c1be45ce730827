package session

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// CommandService is what the session needs of package command's Service:
// the store's single decision on who delivers (Deliver, called before the
// bytes are written) and on the vehicle's answer (Answer).
type CommandService interface {
	Deliver(ctx context.Context, id, replica string) (command.Decision, error)
	Answer(ctx context.Context, id string, vehicle principal.Principal, verdict command.State, reason string) (command.Decision, error)
	Get(ctx context.Context, id string) (store.Command, error)
}

// CommandLister reads a vehicle's commands to deliver (store.CommandStore).
type CommandLister interface {
	ListQueuedCommands(ctx context.Context, vehicle string, limit int) ([]store.Command, error)
	ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error)
}

// CommandSigner signs a command frame with the gateway's command key
// (package gwkey's command key set: frame.SignCommand under a "gc-" kid).
type CommandSigner interface {
	SignCommand(f *frame.Frame) ([]byte, error)
}

// commandAckKinds: the one kind a command answer is admitted as.
var commandAckKinds = []frame.Kind{frame.KindCommandAck}

// commandsOn reports whether the session delivers commands.
func (h *Handler) commandsOn() bool { return h.d.Commands != nil }

// NotifyCommands tells the handler that vehicle may have commands to
// deliver (one was queued here, or another replica's NOTIFY named it). If
// the vehicle's session is established on this gateway, its delivery runs
// (at once, or again right after the one running). It never blocks.
func (h *Handler) NotifyCommands(vehicle string) {
	if !h.commandsOn() {
		return
	}
	h.mu.Lock()
	c := h.live[vehicle]
	h.mu.Unlock()
	if c != nil {
		c.kickDelivery()
	}
}

// NotifyAllCommands runs the delivery of every established session: the
// poll that catches a notification lost while LISTEN was down, and the
// refresh when it comes back.
func (h *Handler) NotifyAllCommands() {
	if !h.commandsOn() {
		return
	}
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.live))
	for _, c := range h.live {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.kickDelivery()
	}
}

// kickDelivery runs deliverCommands on a goroutine of its own, at most one
// per session at a time: a kick while it runs makes it run once more. No
// goroutine is left behind by an idle session.
func (c *conn) kickDelivery() {
	if !c.cmdReady.Load() {
		return // before ready: the kick that follows ready lists it
	}
	c.cmdAgain.Store(true)
	if !c.cmdRunning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		for {
			c.cmdAgain.Store(false)
			c.deliverCommands()
			c.cmdRunning.Store(false)
			if !c.cmdAgain.Load() || !c.cmdRunning.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// closing reports whether the connection is closing.
func (c *conn) closing() bool { return c.spec.Load() != nil }

// usable reports whether a command may be written on c: it is not
// closing, and its liveness session has not ended. Between the monitor
// declaring comm loss and the idle timer closing the connection the
// socket is dead but not yet closing; a command written into it then
// would stay delivered, unanswered. liveEnded starts the close.
func (c *conn) usable() bool {
	if c.closing() {
		return false
	}
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	return live == nil || !c.liveEnded(live)
}

// deliverCommands sends the vehicle its commands, oldest cmd_seq first:
// once per session, the commands delivered before and not answered, unless
// expired (the same command content again: the vehicle answers from its
// executed-command log without executing twice); then the queued ones, each claimed with
// Service.Deliver before it is written, which refuses (and expires) one
// past its expiry and one cancelled or delivered by another replica
// meanwhile. A store error ends the pass: the next kick or poll retries.
func (c *conn) deliverCommands() {
	h := c.h
	ctx, cancel := context.WithTimeout(context.Background(), commandPassTimeout)
	defer cancel()
	if !c.redelivered {
		c.redelivered = true
		delivered, err := h.d.CommandStore.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), Vehicle: c.peer.ID,
			State: command.Delivered, Limit: commandBatch})
		if err != nil {
			h.log.Warn("session: commands to redeliver not read", "vehicle", c.peer.ID, "err", err)
			c.redelivered = false
			return
		}
		slices.SortFunc(delivered, func(a, b store.Command) int { return cmp.Compare(a.CmdSeq, b.CmdSeq) })
		now := h.now()
		for _, cmd := range delivered {
			if !c.usable() {
				return
			}
			if !now.Before(cmd.ExpiresAt) {
				// Never sent after its expiry, not even again: it stays
				// delivered (possibly executed) without an answer.
				continue
			}
			if err := c.sendCommand(cmd); err != nil {
				return
			}
		}
	}
	for c.usable() {
		queued, err := h.d.CommandStore.ListQueuedCommands(ctx, c.peer.ID, commandBatch)
		if err != nil {
			h.log.Warn("session: queued commands not read", "vehicle", c.peer.ID, "err", err)
			return
		}
		sent := 0
		for _, cmd := range queued {
			if !c.usable() {
				return
			}
			if cmd.Vehicle != c.peer.ID {
				continue // never another vehicle's command on this session
			}
			if _, err := commandFrame(cmd); err != nil {
				// Not encodable as a command frame (a type the protocol does
				// not carry, a payload it refuses): never claimed, it
				// expires queued.
				h.emit(commandEvent(c, cmd, codes.CommandDeliveryRefused, event.Reject, event.SeverityHigh, map[string]any{"detail": err.Error()}))
				continue
			}
			d, err := h.d.Commands.Deliver(ctx, cmd.ID, h.d.Replica)
			if len(d.Events) > 0 {
				h.emit(d.Events...)
			}
			var refused *command.Error
			switch {
			case errors.As(err, &refused), errors.Is(err, command.ErrNotFound):
				continue // expired, cancelled or delivered elsewhere: not sent
			case err != nil:
				h.log.Warn("session: command not claimed", "vehicle", c.peer.ID, "command", cmd.ID, "err", err)
				return
			}
			sent++
			if err := c.sendCommand(d.Command); err != nil {
				return // delivered: sent again on the next session
			}
		}
		if len(queued) < commandBatch || sent == 0 {
			return
		}
	}
}

// sendCommand signs cmd with the command key, under the gateway's epoch
// and the connection's next seq, and writes it.
func (c *conn) sendCommand(cmd store.Command) error {
	if cmd.Vehicle != c.peer.ID {
		return errors.New("session: a command for another vehicle") // unreachable: listed by vehicle
	}
	body, err := commandFrame(cmd)
	if err != nil {
		return err
	}
	h := c.h
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	env, err := h.d.CommandKey.SignCommand(&frame.Frame{VehicleID: c.peer.ID, Epoch: h.epoch, Seq: h.seq.Add(1),
		TS: h.now().UTC().Truncate(time.Millisecond), Body: body})
	if err != nil {
		h.log.Error("session: command not signed", "vehicle", c.peer.ID, "command", cmd.ID, "err", err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.WriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, env)
}

// commandFrame is the command frame body of a stored command: its fields
// as fixed when it was queued (cmd_seq, nonce, issued_at), so every
// delivery of it carries the same content (frame.CommandDigest).
func commandFrame(cmd store.Command) (*frame.Command, error) {
	if cmd.CmdSeq <= 0 || len(cmd.Nonce) == 0 {
		return nil, errors.New("the command was never queued")
	}
	p, err := frame.ParseCommandPayload(cmd.Payload)
	if err != nil {
		return nil, err
	}
	risk := frame.RiskLow
	if command.RequiresFreshSession(approval.Class(cmd.RiskClass)) {
		risk = frame.RiskHigh
	}
	body := &frame.Command{CommandID: cmd.ID, CommandType: frame.CommandType(cmd.Type), CmdSeq: uint64(cmd.CmdSeq), Nonce: cmd.Nonce,
		IssuedAt: cmd.IssuedAt.UTC().Truncate(time.Millisecond), ExpiresAt: cmd.ExpiresAt.UTC().Truncate(time.Millisecond),
		Risk: risk, Payload: p}
	if err := body.StaticValidate(); err != nil {
		return nil, err
	}
	return body, nil
}

// handleCommandAck takes a vehicle's answer to a command: the pipeline
// verifies and archives it like every vehicle frame (signature under the
// session's key, counter, replay), then the answer must name a command
// delivered to this vehicle, by command_id and cmd_seq, and
// Service.Answer records it (the first answer wins; the same again is a
// no-op; another is refused with an event). An answer naming an unknown
// command or another vehicle's is refused with an event. Nothing is sent
// back: the vehicle learns nothing from an ack of its answer, and a lost
// answer is asked again by the redelivery.
func (c *conn) handleCommandAck(ctx context.Context, env *frame.Envelope, f *frame.Frame) {
	h := c.h
	if h.d.Limiter != nil {
		if ok, _, _ := h.d.Limiter.TakeN(c.peer.ID, 1); !ok {
			h.emit(event.Event{Class: event.ClassAPI, Activity: "session_frame", Severity: event.SeverityMedium,
				Actor: c.peer, Resource: c.peer.String(), Verdict: event.Reject, Code: codes.RateLimited,
				Attrs: map[string]any{"session": c.id, "kind": string(f.Kind()), "epoch": f.Epoch, "seq": f.Seq}})
			return
		}
	}
	r, err := h.d.Pipeline.ProcessParsed(ctx, c.peer, ingest.Live, commandAckKinds, env, f)
	if err != nil {
		h.log.Warn("session: command answer not processed", "vehicle", c.peer.ID, "err", err)
		return // the redelivery asks again
	}
	if r.Verdict != ingest.Accepted {
		if r.Code == codes.VehicleSuspended {
			c.close(suspendedFrameClose())
		}
		return // the pipeline recorded the refusal
	}
	ack := f.Body.(*frame.CommandAck)
	cmd, err := h.d.Commands.Get(ctx, ack.CommandID)
	switch {
	case errors.Is(err, command.ErrNotFound):
		h.emit(c.ackRefused(ack, store.Command{}, "no such command"))
		return
	case err != nil:
		h.log.Warn("session: command answer not recorded", "vehicle", c.peer.ID, "command", ack.CommandID, "err", err)
		return
	case cmd.Vehicle != c.peer.ID:
		// Answer refuses it (vehicle_mismatch) with its event.
	case uint64(cmd.CmdSeq) != ack.CmdSeq:
		h.emit(c.ackRefused(ack, cmd, "cmd_seq does not match the command's"))
		return
	}
	verdict := command.Accepted
	if ack.Verdict == frame.VerdictRejected {
		verdict = command.Rejected
	}
	d, err := h.d.Commands.Answer(ctx, ack.CommandID, c.peer, verdict, ack.Reason)
	if len(d.Events) > 0 {
		h.emit(d.Events...)
	}
	if err != nil && !errors.As(err, new(*command.Error)) {
		h.log.Warn("session: command answer not recorded", "vehicle", c.peer.ID, "command", ack.CommandID, "err", err)
	}
}

// ackRefused is the event of an answer that names no command delivered to
// this vehicle.
func (c *conn) ackRefused(ack *frame.CommandAck, cmd store.Command, detail string) event.Event {
	if cmd.ID == "" {
		cmd.ID = ack.CommandID
	}
	e := commandEvent(c, cmd, codes.CommandConflict, event.Reject, event.SeverityHigh, map[string]any{
		"detail": detail, "cmd_seq": ack.CmdSeq, "verdict": string(ack.Verdict)})
	e.Activity = "command_answer"
	return e
}

// commandEvent is an event of the session about command cmd.
func commandEvent(c *conn, cmd store.Command, code string, v event.Verdict, sev event.Severity, attrs map[string]any) event.Event {
	attrs["session"] = c.id
	attrs["vehicle"] = c.peer.ID
	return event.Event{Class: event.ClassCommand, Activity: "command_deliver", Severity: codes.SeverityOf(code, sev), Actor: c.peer,
		Resource: "command:" + cmd.ID, Verdict: v, Code: code, Attrs: attrs}
}

// RunCommandPoll runs, every interval until ctx ends, the poll that backs
// the notifications up (a NOTIFY sent while LISTEN was down is lost, and
// SQLite has none): one read of the queued commands of every vehicle, and
// a delivery pass for each of those with a session here. It returns when
// ctx ends.
func (h *Handler) RunCommandPoll(ctx context.Context, interval time.Duration) {
	if !h.commandsOn() {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		after := ""
		for range commandPollPages {
			rctx, cancel := context.WithTimeout(ctx, commandPassTimeout)
			queued, err := h.d.CommandStore.ListCommands(rctx, store.CommandFilter{Scope: store.AllCarriers(), State: command.Queued,
				After: after, Limit: commandPollPage})
			cancel()
			if err != nil {
				h.log.Warn("session: queued commands not polled", "err", err)
				break
			}
			seen := map[string]bool{}
			for _, c := range queued {
				if !seen[c.Vehicle] {
					seen[c.Vehicle] = true
					h.NotifyCommands(c.Vehicle)
				}
			}
			if len(queued) < commandPollPage {
				break
			}
			after = queued[len(queued)-1].ID
		}
	}
}

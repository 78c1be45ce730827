package agent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// Command is a verified command from the gateway, as the AV stack's
// CommandHandler gets it: signed by a pinned gateway command key,
// addressed to this truck, newer than every command answered before, and
// not expired.
type Command struct {
	// ID is the command's command_id; Seq its cmd_seq.
	ID  string
	Seq uint64
	// Type says what Payload holds (frame.CommandPayload lists the members
	// per type).
	Type      frame.CommandType
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Risk is the gateway's risk class: a high-risk command was approved
	// by two people.
	Risk    frame.Risk
	Payload frame.CommandPayload
}

// Answer is the AV stack's decision on a command. Make it with Accept or
// Reject.
type Answer struct {
	Verdict frame.Verdict
	// Reason is the rejection's reason code: codes.CommandInfeasible,
	// codes.CommandUnsupported, or another code of 1..64 characters of
	// [A-Za-z0-9._-].
	Reason string
	// Detail is optional text for the dispatcher, at most
	// frame.MaxDetailLen bytes without control characters.
	Detail string
}

// Accept is the answer that takes a command.
func Accept() Answer { return Answer{Verdict: frame.VerdictAccepted} }

// Reject is the answer that declines a command, with a reason code
// (codes.CommandInfeasible when the truck cannot carry it out) and
// optional detail. A rejection by the handler is a business answer: the
// truck keeps driving.
func Reject(reason, detail string) Answer {
	return Answer{Verdict: frame.VerdictRejected, Reason: reason, Detail: detail}
}

// CommandHandler is what the AV stack implements to take commands. The
// agent calls HandleCommand at most once per command, ever (the
// executed-command log keeps that true across restarts), from one
// goroutine, one command at a time, and records the answer durably before
// it is sent. HandleCommand should decide promptly (accept the route, not
// drive it) and make its own effect durable before it returns: if the
// truck restarts while it runs, the command is answered
// command_interrupted and never offered again.
type CommandHandler interface {
	HandleCommand(ctx context.Context, c Command) Answer
}

// commandWork is a verified command waiting for the command goroutine.
type commandWork struct{ f *frame.Frame }

// onCommand takes a command that passed the gateway-frame checks
// (signature by a pinned command key, addressee, session order) from the
// session's reader, which must not wait for the handler or the disk.
func (a *Agent) onCommand(f *frame.Frame) {
	select {
	case a.cmdQ <- commandWork{f: f}:
	default:
		c := f.Body.(*frame.Command)
		a.mu.Lock()
		a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventCommandNotAnswered, CommandID: c.CommandID, CmdSeq: c.CmdSeq,
			FrameKind: string(frame.KindCommand), Err: errors.New("agent: too many commands waiting")}})
		a.mu.Unlock()
	}
}

// commandLoop decides commands one at a time until ctx ends.
func (a *Agent) commandLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-a.cmdQ:
			a.decide(ctx, w.f)
		}
	}
}

// decide runs a verified command through the checks that need the log
// and the clock, in this order, and answers it:
//
//  1. its (cmd_seq, command_id, digest) was decided before: the recorded
//     answer again (an executing record: command_interrupted, recorded);
//  2. its cmd_seq or command_id was decided with other content:
//     command_conflict (authenticity failure);
//  3. cmd_seq not above the highest decided: command_seq_rollback
//     (authenticity failure);
//  4. expires_at + CommandExpiryTolerance has passed: command_expired
//     (recorded: a redelivery gets the same answer);
//  5. the executing record, then the handler, then the answer record;
//
// and only then is the answer queued for the gateway.
func (a *Agent) decide(ctx context.Context, f *frame.Frame) {
	c := f.Body.(*frame.Command)
	digest, err := frame.CommandDigest(f)
	if err != nil { // a decoded command always has one
		a.commandNotAnswered(c, err)
		return
	}
	now := a.now()
	entry := logEntry{CmdSeq: c.CmdSeq, CommandID: c.CommandID, Digest: hex.EncodeToString(digest[:]), ExpiresAt: c.ExpiresAt}
	switch m, e := a.cmdLog.lookup(c.CmdSeq, c.CommandID, digest); m {
	case matchSame:
		if e.State == logExecuting {
			// Crash window 2: the handler may have acted. Never again.
			ans := Reject(codes.CommandInterrupted, "the vehicle restarted while its handler ran this command; it is not run again")
			if err := a.recordAnswer(entry, ans, now); err != nil {
				a.commandNotAnswered(c, err)
				return
			}
			a.answer(c, ans, EventCommandAnswered)
			return
		}
		a.answer(c, Answer{Verdict: e.Verdict, Reason: e.Reason, Detail: e.Detail}, EventCommandRedelivered)
		return
	case matchConflict:
		a.commandAttack(ReasonCommandConflict, codes.CommandConflict, c)
		return
	}
	if c.CmdSeq <= a.cmdLog.last {
		a.commandAttack(ReasonCommandSeqRollback, codes.CommandSeqRollback, c)
		return
	}
	if now.After(c.ExpiresAt.Add(a.cfg.CommandExpiryTolerance)) {
		ans := Reject(codes.CommandExpired, "")
		if err := a.recordAnswer(entry, ans, now); err != nil {
			a.commandNotAnswered(c, err)
			return
		}
		a.answer(c, ans, EventCommandAnswered)
		return
	}
	entry.State = logExecuting
	if err := a.cmdLog.record(entry, now); err != nil {
		a.commandNotAnswered(c, err) // crash window 1: not run; decided afresh when delivered again
		return
	}
	ans := a.callHandler(ctx, c)
	if err := a.recordAnswer(entry, ans, a.now()); err != nil {
		// The log still says executing: a redelivery, in this process
		// or after a restart, is answered command_interrupted, never
		// with an answer that was not durable.
		a.commandNotAnswered(c, err)
		return
	}
	a.answer(c, ans, EventCommandAnswered)
}

func (a *Agent) recordAnswer(e logEntry, ans Answer, now time.Time) error {
	e.State, e.Verdict, e.Reason, e.Detail = logAnswered, ans.Verdict, ans.Reason, ans.Detail
	return a.cmdLog.record(e, now)
}

// callHandler calls the AV stack's handler once and checks its answer; a
// missing handler, a panic or an answer that cannot go on the wire is a
// rejection.
func (a *Agent) callHandler(ctx context.Context, c *frame.Command) (ans Answer) {
	h := a.d.CommandHandler
	if h == nil {
		return Reject(codes.CommandUnsupported, "this vehicle takes no commands")
	}
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("command handler panicked", "command_id", c.CommandID, "panic", fmt.Sprint(r))
			ans = Reject(codes.CommandHandlerError, "")
		}
	}()
	ans = h.HandleCommand(ctx, Command{ID: c.CommandID, Seq: c.CmdSeq, Type: c.CommandType, IssuedAt: c.IssuedAt,
		ExpiresAt: c.ExpiresAt, Risk: c.Risk, Payload: c.Payload})
	probe := frame.CommandAck{CommandID: c.CommandID, CmdSeq: c.CmdSeq, Verdict: ans.Verdict, Reason: ans.Reason, Detail: ans.Detail}
	if err := probe.StaticValidate(); err != nil {
		a.log.Error("command handler gave an invalid answer", "command_id", c.CommandID, "err", err)
		return Reject(codes.CommandHandlerError, "")
	}
	return ans
}

// answer reports a decided command and queues its signed answer on the
// current session, if any (without one it waits in the log for the
// redelivery).
func (a *Agent) answer(c *frame.Command, ans Answer, kind EventKind) {
	a.mu.Lock()
	s := a.sess
	a.queueEventsLocked([]Event{{Time: a.now(), Kind: kind, CommandID: c.CommandID, CmdSeq: c.CmdSeq, Verdict: ans.Verdict,
		Code: ans.Reason, FrameKind: string(frame.KindCommand)}})
	a.mu.Unlock()
	if s != nil {
		s.queueCommandAck(&frame.CommandAck{CommandID: c.CommandID, CmdSeq: c.CmdSeq, Verdict: ans.Verdict, Reason: ans.Reason, Detail: ans.Detail})
	}
}

func (a *Agent) commandNotAnswered(c *frame.Command, err error) {
	a.log.Error("command not answered", "command_id", c.CommandID, "cmd_seq", c.CmdSeq, "err", err)
	a.mu.Lock()
	a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventCommandNotAnswered, CommandID: c.CommandID, CmdSeq: c.CmdSeq,
		FrameKind: string(frame.KindCommand), Err: err}})
	a.mu.Unlock()
}

// commandRefused handles a message claiming to be a command that failed
// the gateway-frame checks (why: unknown_key, bad_signature, unsigned,
// malformed, wrong_vehicle, unexpected_kind, replayed). It is answered when the
// claimed command can be named: its command_id and cmd_seq are untrusted,
// so the refusal is never recorded in the log (a forger must not burn a
// real command's cmd_seq).
func (a *Agent) commandRefused(why Reason, untrusted *frame.Frame) {
	code := ""
	switch why {
	case ReasonUnknownKey:
		code = string(frame.CodeUnknownKID)
	case ReasonBadSignature:
		code = string(frame.CodeBadSignature)
	case ReasonWrongVehicle:
		code = codes.CommandWrongVehicle
	}
	c, _ := untrusted.Body.(*frame.Command)
	if c == nil {
		code = ""
		c = &frame.Command{}
	}
	a.commandAttack(why, code, c)
}

// commandAttack raises EventCommandRefused, starts the safe-state
// maneuver (unless configured off) and, when code is set, answers the
// command rejected with it.
func (a *Agent) commandAttack(why Reason, code string, c *frame.Command) {
	now := a.now()
	a.log.Warn("command refused: authenticity failure", "reason", string(why), "command_id", c.CommandID, "cmd_seq", c.CmdSeq)
	a.mu.Lock()
	evs := []Event{{Time: now, Kind: EventCommandRefused, Reason: why, Code: code, CommandID: c.CommandID, CmdSeq: c.CmdSeq,
		FrameKind: string(frame.KindCommand)}}
	if !a.cfg.NoSafeStateOnCommandAttack {
		evs = append(evs, a.wd.Trip(now, ReasonCommandAuthFailure)...)
	}
	a.queueEventsLocked(evs)
	s := a.sess
	a.mu.Unlock()
	a.pokeClock()
	if code != "" && s != nil {
		s.queueCommandAck(&frame.CommandAck{CommandID: c.CommandID, CmdSeq: c.CmdSeq, Verdict: frame.VerdictRejected, Reason: code})
	}
}

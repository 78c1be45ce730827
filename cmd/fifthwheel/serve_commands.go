package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/session"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// commandPoll is how often every replica polls the queued commands
// (session.Handler.RunCommandPoll) and sweeps the expired ones
// (command.Service.Sweep): the back-up of the in-process signal and of
// PostgreSQL's NOTIFY, and the expiry's resolution for the TMS (a command
// is never delivered after its expiry whatever the sweep's pace: Deliver
// checks).
const commandPoll = 2 * time.Second

// newCommandService makes the gateway's command service under the risk
// policy of cfg's commands section. Its queued signal and vehicle_offline
// reason come from the session handler, which is made after it
// (sessionFor is read at call time).
func newCommandService(cfg config.Config, st store.Store, sessionFor func() *session.Handler) (*command.Service, error) {
	return command.New(command.Config{Policy: cfg.CommandPolicy()}, command.Deps{Store: st, Approvers: storeApprovers{storeDirectory{st}},
		Online: func(v string) bool { return sessionFor() != nil && sessionFor().Connected(v) },
		Queued: func(v string) {
			if s := sessionFor(); s != nil {
				s.NotifyCommands(v)
			}
		}})
}

// runCommandDelivery starts, on bg, what wakes the delivery of commands
// on this replica's sessions: PostgreSQL's NOTIFY on store.CommandsChannel
// (its payload names the vehicle), the poll, and the expiry sweep.
func runCommandDelivery(bg context.Context, st store.Store, sess *session.Handler, svc *command.Service, events event.Emitter, log *slog.Logger) {
	if n, ok := st.(store.PayloadNotifier); ok {
		go func() {
			for {
				err := n.ListenPayload(bg, store.CommandsChannel, func(vehicle string) {
					if vehicle == "" {
						sess.NotifyAllCommands()
						return
					}
					sess.NotifyCommands(vehicle)
				})
				if bg.Err() != nil {
					return
				}
				log.Warn("LISTEN failed; polling alone until it is back", slog.String("channel", store.CommandsChannel), slog.Any("err", err))
				select {
				case <-bg.Done():
					return
				case <-time.After(listenRetry):
				}
			}
		}()
	}
	go sess.RunCommandPoll(bg, commandPoll)
	go every(bg, commandPoll, func() {
		ctx, cancel := context.WithTimeout(bg, commandPoll*5)
		defer cancel()
		evs, err := svc.Sweep(ctx)
		if len(evs) > 0 {
			if eerr := events.Emit(ctx, evs...); eerr != nil {
				log.Warn("command sweep events not recorded", slog.Any("err", eerr))
			}
		}
		if err != nil {
			log.Warn("command sweep failed", slog.Any("err", err))
		}
	})
}

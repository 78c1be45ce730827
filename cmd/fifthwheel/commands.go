package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
)

// startCommands builds the command service and the TMS command API over
// st, and runs the expiry sweep on bg. The risk policy is package
// command's defaults; its risk threshold is the TMS-access one.
func startCommands(bg context.Context, cfg config.Config, st store.Store, monitor *liveness.Monitor, bus event.Emitter,
	log *slog.Logger) (*command.Service, *tmsapi.API, error) {
	svc, err := command.New(command.Config{Policy: command.Policy{}},
		command.Deps{Store: st, Approvers: storeApprovers{storeDirectory{st}}, Online: online(monitor)})
	if err != nil {
		return nil, nil, err
	}
	api, err := tmsapi.New(tmsapi.Deps{Store: st, Commands: svc, Events: bus, Log: log})
	if err != nil {
		return nil, nil, err
	}
	go sweep(bg, svc, bus, log)
	return svc, api, nil
}

// storeApprovers answers from the registry, read now (not the guard's
// cache): an active client or operator holding the approver role.
type storeApprovers struct{ dir storeDirectory }

func (a storeApprovers) HoldsApprover(ctx context.Context, p principal.Principal) (bool, error) {
	acct, err := a.dir.Account(ctx, p)
	if errors.Is(err, authz.ErrUnknownPrincipal) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return acct.Active && slices.Contains(acct.Roles, authz.Approver), nil
}

// online reports whether a vehicle has a session now (liveness).
func online(m *liveness.Monitor) func(string) bool {
	return func(id string) bool {
		s, ok := m.State(id)
		return ok && s.Connected
	}
}

// sweep runs the command service's expiry sweep every
// command.SweepInterval until ctx ends, and records its events.
func sweep(ctx context.Context, svc *command.Service, bus event.Emitter, log *slog.Logger) {
	t := time.NewTicker(command.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		evs, err := svc.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("command sweep failed", slog.Any("err", err))
		}
		if len(evs) > 0 {
			if err := bus.Emit(ctx, evs...); err != nil {
				log.Error("command sweep events not recorded", slog.Any("err", err))
			}
		}
	}
}

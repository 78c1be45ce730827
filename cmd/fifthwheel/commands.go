package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
)

// commandAPI builds the TMS command API over st and the gateway's one
// command service (the session handler delivers its commands; the expiry
// sweep runs with the delivery, runCommandDelivery).
func commandAPI(st store.Store, svc *command.Service, bus event.Emitter, log *slog.Logger) (*tmsapi.API, error) {
	return tmsapi.New(tmsapi.Deps{Store: st, Commands: svc, Events: bus, Log: log})
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

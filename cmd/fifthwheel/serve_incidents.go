package main

import (
	"context"
	"log/slog"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// incidentConfig maps the incidents section onto the manager's config.
func incidentConfig(cfg config.Config) incident.Config {
	in := cfg.Incidents
	return incident.Config{GroupingWindow: in.GroupingWindow, EscalateInterval: in.EscalateInterval,
		Clocks: incident.Clocks{InternalSafety: in.Clocks.InternalSafety, Internal: in.Clocks.Internal, Customer: in.Clocks.Customer,
			RegulatorEarlyWarning: in.Clocks.RegulatorEarlyWarning, Regulator: in.Clocks.Regulator},
		NoEarlyWarning: in.Clocks.RegulatorEarlyWarning == 0}
}

// newIncidents returns the incident manager of a CLI command or of serve:
// revocations go through ca (nil: revoke_certificate refuses), released is
// told of a vehicle whose command hold was released (nil: none).
func newIncidents(cfg config.Config, st store.Store, events event.Emitter, ca *pki.CA, released func(string), log *slog.Logger) (*incident.Manager, error) {
	d := incident.Deps{Store: st, Events: events, Released: released, Log: log}
	if ca != nil {
		d.Revoker = ca
	}
	return incident.New(incidentConfig(cfg), d)
}

// startIncidents builds serve's incident manager and runs its escalator on
// bg (one per replica: each clock is escalated once across them, the
// store decides). The manager is the detect.Reporter the detection engine
// reports to.
func startIncidents(bg context.Context, cfg config.Config, st store.Store, events event.Emitter, ca *pki.CA, released func(string), log *slog.Logger) (*incident.Manager, error) {
	m, err := newIncidents(cfg, st, events, ca, released, log)
	if err != nil {
		return nil, err
	}
	go m.RunEscalator(bg)
	return m, nil
}

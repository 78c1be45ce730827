package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

// Push to the TMS (issue 20): what goes into a client's webhook outbox,
// and the sender that empties it: command transitions, the vehicle states
// that matter to dispatch, and shipment status events (package tracking's
// shipment_status_recorded, for the tender's client).
//
// The hook is the event bus. Every command transition is one event
// (package command's Decision events, recorded by whoever applies the
// decision: the TMS API, the expiry sweep, the session that delivers), and
// every liveness transition is one event (package liveness), so a sink on
// the bus sees each exactly once, whichever path made it, in every process
// that records events (serve, and CLI commands that change a command).
//
// The gap, stated honestly: the sink enqueues after the transition's own
// store transaction has committed (the store's transition methods take no
// outbox message), so a crash or a store error between the two loses that
// message; the error is logged, the transition stands, and the TMS can
// always read GET /v1/commands/{id}. Enqueueing never fails the event: a
// push problem must not refuse a vehicle.

// Webhook message types (the body's "type" and the outbox's event_type).
// audit.checkpoint is package audit's (audit.WebhookCheckpoint, enqueued
// by audit.Publisher, wired in serve_audit.go).
const (
	webhookCommandTransition = "command.transition"
	webhookVehicleState      = "vehicle.state"
	webhookShipmentStatus    = "shipment.status"
)

// commandTransitionCodes are the events that are command transitions.
var commandTransitionCodes = map[string]bool{
	codes.CommandCreated: true, codes.CommandApproved: true, codes.CommandQueued: true, codes.CommandDelivered: true,
	codes.CommandAccepted: true, codes.CommandRejected: true, codes.CommandExpired: true, codes.CommandCancelled: true,
}

// webhookSink is the event sink that enqueues webhook messages.
type webhookSink struct {
	st  store.Store
	log *slog.Logger
}

func (s webhookSink) Write(ctx context.Context, evs []event.Encoded) error {
	for _, e := range evs {
		if err := s.enqueue(ctx, e.Event); err != nil {
			s.log.Error("webhook message not enqueued", slog.String("event", e.Event.ID), slog.String("code", e.Event.Code), slog.Any("err", err))
		}
	}
	return nil
}

func (s webhookSink) enqueue(ctx context.Context, ev event.Event) error {
	switch {
	case ev.Class == event.ClassCommand && ev.Verdict != event.Reject && commandTransitionCodes[ev.Code]:
		return s.commandTransition(ctx, ev)
	case ev.Code == codes.ShipmentStatusRecorded && ev.Verdict == event.Accept:
		return s.shipmentStatus(ctx, ev)
	case ev.Class == event.ClassLiveness:
		if state := dispatchState(ev); state != "" {
			return s.vehicleState(ctx, ev, state)
		}
	}
	return nil
}

// dispatchState is the vehicle state a liveness event reports to
// dispatch: comm_lost, safe_state, or resumed (online again after either);
// "" for the others.
func dispatchState(ev event.Event) string {
	lost, safe := liveness.CommLost.String(), liveness.SafeState.String()
	switch ev.Code {
	case codes.CommLost:
		return lost
	case codes.VehicleSafeState:
		return safe
	case codes.VehicleOnline:
		if from, _ := ev.Attrs["from"].(string); from == lost || from == safe {
			return "resumed"
		}
	}
	return ""
}

type webhookCommand struct {
	ID               string `json:"id"`
	Vehicle          string `json:"vehicle"`
	Type             string `json:"type"`
	State            string `json:"state"`
	PossiblyExecuted bool   `json:"possibly_executed"`
}

// webhookShipment is a shipment status event (package tracking): its EDI
// 214 code, the stop event it came from, when and where.
type webhookShipment struct {
	TenderID string  `json:"tender_id"`
	Vehicle  string  `json:"vehicle"`
	StopSeq  int64   `json:"stop_seq"`
	Status   string  `json:"status"`
	Code     string  `json:"code"`
	At       string  `json:"at"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
}

type webhookBody struct {
	Type     string           `json:"type"`
	EventID  string           `json:"event_id"`
	Time     time.Time        `json:"time"`
	Code     string           `json:"code"`
	Command  *webhookCommand  `json:"command,omitempty"`
	Shipment *webhookShipment `json:"shipment,omitempty"`
	Vehicle  string           `json:"vehicle,omitempty"`
	State    string           `json:"state,omitempty"`
	Reason   string           `json:"reason,omitempty"`
}

// commandTransition enqueues a transition for the client that requested
// the command, if it is a client with a webhook.
func (s webhookSink) commandTransition(ctx context.Context, ev event.Event) error {
	id, ok := strings.CutPrefix(ev.Resource, "command:")
	if !ok || id == "" {
		return nil
	}
	c, err := s.st.GetCommand(ctx, id)
	if err != nil {
		return err
	}
	req, err := principal.ParseURI(c.RequestedBy)
	if err != nil || req.Kind != principal.Client {
		return nil // operators have no webhook
	}
	// The state the transition reached (the event's), not the command's
	// state now, which may have moved on.
	state, _ := ev.Attrs["state"].(string)
	if state == "" {
		state = string(c.State)
	}
	reason, _ := ev.Attrs["reason"].(string)
	body := webhookBody{Type: webhookCommandTransition, EventID: ev.ID, Time: ev.Time.UTC(), Code: ev.Code, Reason: reason,
		Command: &webhookCommand{ID: c.ID, Vehicle: c.Vehicle, Type: c.Type, State: state,
			PossiblyExecuted: command.PossiblyExecuted(command.State(state))}}
	return s.put(ctx, []string{req.ID}, webhookCommandTransition, body, ev.Time)
}

// shipmentStatus enqueues a recorded shipment status event for the
// tender's client (the client of the vehicle's dispatch, which package
// tracking put in the event), if it is a client with a webhook.
func (s webhookSink) shipmentStatus(ctx context.Context, ev event.Event) error {
	client, _ := ev.Attrs["client"].(string)
	req, err := principal.ParseURI(client)
	if err != nil || req.Kind != principal.Client {
		return nil
	}
	str := func(k string) string { v, _ := ev.Attrs[k].(string); return v }
	num := func(k string) float64 {
		switch v := ev.Attrs[k].(type) {
		case float64:
			return v
		case int64:
			return float64(v)
		case uint64:
			return float64(v)
		case int:
			return float64(v)
		}
		return 0
	}
	body := webhookBody{Type: webhookShipmentStatus, EventID: ev.ID, Time: ev.Time.UTC(), Code: ev.Code,
		Shipment: &webhookShipment{TenderID: str("tender_id"), Vehicle: str("vehicle"), StopSeq: int64(num("stop_seq")),
			Status: str("status"), Code: str("code"), At: str("at"), Lat: num("lat"), Lon: num("lon")}}
	return s.put(ctx, []string{req.ID}, webhookShipmentStatus, body, ev.Time)
}

// vehicleState enqueues a dispatch-relevant vehicle state for every
// client of the vehicle's carrier that has a webhook.
func (s webhookSink) vehicleState(ctx context.Context, ev event.Event, state string) error {
	p, err := principal.ParseURI(ev.Resource)
	if err != nil || p.Kind != principal.Vehicle {
		return nil
	}
	v, err := s.st.GetVehicle(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	clients, err := s.st.CarrierWebhookClients(ctx, v.Carrier)
	if err != nil {
		return err
	}
	body := webhookBody{Type: webhookVehicleState, EventID: ev.ID, Time: ev.Time.UTC(), Code: ev.Code, Vehicle: p.ID, State: state}
	return s.put(ctx, clients, webhookVehicleState, body, ev.Time)
}

// put enqueues body once per client that has a webhook.
func (s webhookSink) put(ctx context.Context, clients []string, typ string, body webhookBody, at time.Time) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range clients {
		if _, err := s.st.GetClientWebhook(ctx, c); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.st.EnqueueWebhook(ctx, store.WebhookMessage{Client: c, EventType: typ, Body: raw, NextAttemptAt: at, CreatedAt: at}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startWebhooks runs the webhook sender on bg until it ends. Receivers
// are on global addresses unless webhooks.allow_private.
func startWebhooks(bg context.Context, cfg config.Config, st store.Store, secrets webhook.SecretSealer, bus event.Emitter, log *slog.Logger) error {
	s, err := webhook.NewSender(webhook.Config{AllowPrivate: cfg.Webhooks.AllowPrivate}, webhook.Deps{Outbox: st,
		Endpoints: webhook.StoreEndpoints{Store: st, Secrets: secrets}, Events: bus, Log: log})
	if err != nil {
		return err
	}
	go s.Run(bg)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestWebhookSinkEnqueues: which events become outbox messages, for whom,
// on both engines.
func TestWebhookSinkEnqueues(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		t.Parallel()
		ctx := context.Background()
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		for _, c := range []store.Client{
			{ID: "acme", Carrier: "acme-freight"}, {ID: "acme-2", Carrier: "acme-freight"},
			{ID: "quiet", Carrier: "acme-freight"}, {ID: "other", Carrier: "other-freight"},
		} {
			c.Name, c.Status, c.CreatedAt = c.ID, store.ClientActive, t0
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c.ID != "quiet" { // quiet has no webhook
				if err := st.SetClientWebhook(ctx, store.ClientWebhook{Client: c.ID, URL: "https://x.example/h", Sealed: []byte("s"), UpdatedAt: t0}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: "truck-a", Status: store.VehicleActive, Carrier: "acme-freight", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		cmd := func(id, by string) {
			if err := st.CreateCommand(ctx, store.Command{ID: id, Vehicle: "truck-a", Carrier: "acme-freight", RequestedBy: by, Type: "route_update",
				Payload: []byte(`{}`), RiskClass: "normal", State: store.CommandPendingApproval, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}, by, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		cmd("c-client", "urn:fifthwheel:client:acme")
		cmd("c-quiet", "urn:fifthwheel:client:quiet")
		cmd("c-operator", "urn:fifthwheel:operator:ann")
		cmdEv := func(code, id, state string, v event.Verdict) event.Event {
			return event.Event{ID: "ev-" + code + id, Time: t0, Class: event.ClassCommand, Code: code, Verdict: v,
				Resource: "command:" + id, Attrs: map[string]any{"state": state}}
		}
		liveEv := func(code, from string) event.Event {
			return event.Event{ID: "ev-" + code + from, Time: t0, Class: event.ClassLiveness, Code: code, Verdict: event.Info,
				Resource: "urn:fifthwheel:vehicle:truck-a", Attrs: map[string]any{"from": from}}
		}
		evs := []event.Event{
			cmdEv(codes.CommandQueued, "c-client", "queued", event.Info),             // -> acme
			cmdEv(codes.CommandDelivered, "c-client", "delivered", event.Info),       // -> acme, possibly executed
			cmdEv(codes.CommandCancelRefused, "c-client", "delivered", event.Reject), // a refusal: no
			cmdEv(codes.CommandApproved, "c-quiet", "approved", event.Info),          // no webhook: no
			cmdEv(codes.CommandApproved, "c-operator", "approved", event.Info),       // an operator: no
			liveEv(codes.CommLost, "online"),                                         // -> acme, acme-2
			liveEv(codes.VehicleOnline, "comm_lost"),                                 // resumed -> acme, acme-2
			liveEv(codes.VehicleOnline, "suspect"),                                   // not dispatch-relevant: no
			liveEv(codes.VehicleSuspect, "online"),                                   // no
		}
		var enc []event.Encoded
		for _, ev := range evs {
			enc = append(enc, event.Encoded{Event: ev})
		}
		sink := webhookSink{st: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := sink.Write(ctx, enc); err != nil {
			t.Fatal(err)
		}
		got, err := st.ClaimWebhooks(ctx, t0.Add(time.Second), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		type msg struct{ client, typ, code, state string }
		var have []msg
		for _, m := range got {
			var b struct {
				Code    string `json:"code"`
				State   string `json:"state"`
				Command *struct {
					ID, State        string
					PossiblyExecuted bool `json:"possibly_executed"`
				} `json:"command"`
			}
			if err := json.Unmarshal(m.Body, &b); err != nil {
				t.Fatal(err)
			}
			s := b.State
			if b.Command != nil {
				s = b.Command.State
				if b.Command.ID != "c-client" || b.Command.PossiblyExecuted != (s == "delivered") {
					t.Errorf("command body: %s", m.Body)
				}
			}
			have = append(have, msg{m.Client, m.EventType, b.Code, s})
		}
		want := []msg{
			{"acme", "command.transition", codes.CommandQueued, "queued"},
			{"acme", "command.transition", codes.CommandDelivered, "delivered"},
			{"acme", "vehicle.state", codes.CommLost, "comm_lost"},
			{"acme-2", "vehicle.state", codes.CommLost, "comm_lost"},
			{"acme", "vehicle.state", codes.VehicleOnline, "resumed"},
			{"acme-2", "vehicle.state", codes.VehicleOnline, "resumed"},
		}
		if len(have) != len(want) {
			t.Fatalf("messages:\n got %v\nwant %v", have, want)
		}
		for i := range want {
			if have[i] != want[i] {
				t.Fatalf("message %d: got %v, want %v", i, have[i], want[i])
			}
		}
	})
}

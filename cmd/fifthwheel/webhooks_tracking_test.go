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
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

// TestWebhookSinkShipmentStatus: the event the gateway records when it
// stores a shipment status (tracking.RecordedEvent) becomes one
// shipment.status message for the tender's client, with the 214 code, the
// stop and where and when; nothing for a client without a webhook, nor for
// a refused stop event. Both engines.
func TestWebhookSinkShipmentStatus(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		for _, c := range []store.Client{{ID: "acme", Carrier: "acme-freight"}, {ID: "quiet", Carrier: "acme-freight"}} {
			c.Name, c.Status, c.CreatedAt = c.ID, store.ClientActive, t0
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetClientWebhook(ctx, store.ClientWebhook{Client: "acme", URL: "https://x.example/h", Sealed: []byte("s"), UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-a"}
		rec := func(client string) event.Event {
			ev := tracking.RecordedEvent(truck, store.ShipmentEvent{ID: 7, Client: client, TenderID: "L1", Vehicle: "truck-a", StopSeq: 2,
				Status: "delivered", Code: "D1", At: t0.Add(-time.Minute), Lat: 35.149534, Lon: -90.04898, Epoch: 1, Seq: 9, ReceivedAt: t0})
			ev.ID, ev.Time = "ev-"+client, t0
			return ev
		}
		refused := event.Event{ID: "ev-refused", Time: t0, Class: event.ClassCommand, Code: codes.StopEventNotDispatched, Verdict: event.Reject,
			Actor: truck, Resource: truck.String(), Attrs: map[string]any{"tender_id": "L1"}}
		var enc []event.Encoded
		for _, ev := range []event.Event{rec("urn:fifthwheel:client:acme"), rec("urn:fifthwheel:client:quiet"), refused} {
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
		if len(got) != 1 || got[0].Client != "acme" || got[0].EventType != "shipment.status" {
			t.Fatalf("messages: %+v", got)
		}
		var b webhookBody
		if err := json.Unmarshal(got[0].Body, &b); err != nil {
			t.Fatal(err)
		}
		want := webhookShipment{TenderID: "L1", Vehicle: "truck-a", StopSeq: 2, Status: "delivered", Code: "D1",
			At: "2026-12-05T11:59:00.000Z", Lat: 35.149534, Lon: -90.04898}
		if b.Type != "shipment.status" || b.Code != codes.ShipmentStatusRecorded || b.EventID != "ev-urn:fifthwheel:client:acme" ||
			b.Shipment == nil || *b.Shipment != want {
			t.Fatalf("body: %s", got[0].Body)
		}
	})
}

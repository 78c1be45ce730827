package siem_test

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// startNATS starts an embedded JetStream server on port (-1: any), storing
// in dir with every write synced.
func startNATS(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		SyncAlways: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	return ns
}

// natsKinds are the event kinds of the test: three subjects.
var natsKinds = []struct {
	class event.Class
	code  string
}{{event.ClassTelemetry, codes.Replay}, {event.ClassAuthentication, codes.TLSCertRevoked}, {event.ClassLiveness, codes.CommLost}}

func appendKinds(t *testing.T, st store.Store, from, n int) []store.EventRow {
	t.Helper()
	var rows []store.EventRow
	for i := from; i < from+n; i++ {
		k := natsKinds[i%len(natsKinds)]
		row, err := event.Row(event.Event{ID: fmt.Sprintf("n-%04d", i), Time: time.Now().UTC(), Class: k.class, Activity: "x",
			Severity: codes.SeverityHigh, Verdict: event.Reject, Code: k.code})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []store.EventRow{row}); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	return rows
}

// TestNATSRestartMidStream: the JetStream server stops while events keep
// coming and starts again: every event is in the stream once, and on
// each subject in stream order.
func TestNATSRestartMidStream(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	dir := t.TempDir()
	ns := startNATS(t, -1, dir)
	port := ns.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	sink, err := siem.NewNATS(siem.NATSConfig{URL: url, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runCtx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { siem.Run(runCtx, st, fastRun("h1"), sink); close(done) }()
	defer func() { cancel(); <-done }()

	rows := appendKinds(t, st, 0, 15)
	cursor := func() store.StreamPos {
		cs, _ := st.StreamConsumers(ctx)
		for _, c := range cs {
			if c.Name == "sink:nats" {
				return c.Pos
			}
		}
		return 0
	}
	waitFor(t, "the first events", func() bool { return cursor() >= 10 })
	ns.Shutdown()
	ns.WaitForShutdown()
	rows = append(rows, appendKinds(t, st, 15, 20)...) // while the server is down
	time.Sleep(300 * time.Millisecond)
	ns = startNATS(t, port, dir)
	defer ns.Shutdown()
	rows = append(rows, appendKinds(t, st, 35, 10)...)
	last := store.StreamPos(len(rows))
	waitFor(t, "every event published", func() bool { return cursor() >= last })

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, siem.DefaultNATSStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perSubject := map[string][]string{}
	seen := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		var o struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(m.Data, &o); err != nil || o.Metadata.UID != id {
			t.Fatalf("message %d: Nats-Msg-Id %q, body uid %q (%v)", seq, id, o.Metadata.UID, err)
		}
		if seen[id] {
			t.Errorf("event %s twice in the stream", id)
		}
		seen[id] = true
		perSubject[m.Subject] = append(perSubject[m.Subject], id)
	}
	want := map[string][]string{}
	for _, r := range rows {
		subj := sink.Subject(r.Class, r.Code)
		want[subj] = append(want[subj], r.ID)
	}
	if len(seen) != len(rows) {
		t.Errorf("%d events in the stream, want %d", len(seen), len(rows))
	}
	for subj, ids := range want {
		if !slices.Equal(perSubject[subj], ids) {
			t.Errorf("subject %s: %v\nwant %v", subj, perSubject[subj], ids)
		}
	}
	if _, ok := want["fifthwheel.events.telemetry.replay"]; !ok {
		t.Errorf("subjects %v: not <prefix>.<class>.<code>", want)
	}
}

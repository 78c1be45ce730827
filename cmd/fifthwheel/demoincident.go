package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The demo's incident response (issue 22): the incident-containment drill
// has a truck in session replay a frame, the gateway's detection opens an
// incident, and the drill contains it by revoking the truck from the
// incident. The demo then shows that incident as an operator sees it,
// through the CLI (`incidents list`, `incidents show`: its clocks, finding,
// runbook and containment), and where its incident_opened event went: the
// SIEM webhook receiver, the OCSF events file and the NATS subject.
const demoIncidentDrill = "incident-containment"

// demoSIEMWait bounds the wait for each sink to have the event (a
// variable: tests shorten it).
var demoSIEMWait = 15 * time.Second

// demoSIEMHook, when set (by tests only), alters the demo's SIEM once the
// gateway runs: the proof that an incident missing a sink fails the demo.
var demoSIEMHook func(*devSIEM)

// demoIncidentResult is the incident response's outcome, for the summary.
type demoIncidentResult struct {
	ok      bool
	skipped bool
	detail  string
}

// demoIncident finds the incident the containment drill contained, prints
// it through the CLI and checks it reached every SIEM sink of ds.
func (a *app) demoIncident(ctx context.Context, out *demoView, gw *inprocGateway, e *stateEnv, ds *devSIEM, rep *drill.Report) demoIncidentResult {
	if demoSIEMHook != nil {
		demoSIEMHook(ds)
	}
	var res *drill.Result
	for i := range rep.Drills {
		if rep.Drills[i].Name == demoIncidentDrill {
			res = &rep.Drills[i]
		}
	}
	if res == nil {
		return demoIncidentResult{skipped: true, detail: "not run (the " + demoIncidentDrill + " drill was not selected)"}
	}
	fail := func(format string, args ...any) demoIncidentResult {
		return demoIncidentResult{detail: fmt.Sprintf(format, args...)}
	}
	inc, err := containedDrillIncident(ctx, e.st)
	if err != nil {
		return fail("the containment drill's incident: %v", err)
	}
	out.lock(func(w io.Writer) {
		fmt.Fprintln(w, "\n== incident response ==")
		fmt.Fprintf(w, "$ fifthwheel incidents list --data %s\n", gw.dir)
		run(ctx, []string{"incidents", "list"}, w, w, gw.a.environ)
		fmt.Fprintf(w, "\n$ fifthwheel incidents show %s --data %s\n", inc.ID, gw.dir)
		run(ctx, []string{"incidents", "show", inc.ID}, w, w, gw.a.environ)
	})
	evs, err := e.st.ListEvents(ctx, store.EventFilter{Code: codes.IncidentOpened, Subject: "incident:" + inc.ID, Limit: 1})
	if err != nil || len(evs) == 0 {
		return fail("incident %s: no incident_opened event (%v)", inc.ID, err)
	}
	ev := evs[0]
	var reached []string
	got, ok := awaitDemo(ctx, func() (drill.ReceivedEvent, bool) { return ds.receiver.Received(ev.ID) })
	if !ok {
		return fail("incident %s: the SIEM webhook receiver never got it", inc.ID)
	}
	reached = append(reached, fmt.Sprintf("webhook receiver (signed batch %s, class %d)", got.Batch, got.ClassUID))
	path := e.cfg.EventsPath()
	line, ok := awaitDemo(ctx, func() (int, bool) { return lineWith(path, ev.ID) })
	if !ok {
		return fail("incident %s: not in the OCSF events file %s", inc.ID, path)
	}
	reached = append(reached, fmt.Sprintf("OCSF file (%s, line %d)", path, line))
	if ds.nats != nil {
		subject, seq, err := natsMessageWith(ctx, ds.nats.ClientURL(), e.cfg.SIEM.NATS.Stream, e.cfg.SIEM.NATS.SubjectPrefix, ev)
		if err != nil {
			return fail("incident %s: NATS: %v", inc.ID, err)
		}
		reached = append(reached, fmt.Sprintf("NATS %s (stream %s, seq %d)", subject, e.cfg.SIEM.NATS.Stream, seq))
	}
	opened := ""
	for _, tm := range res.Timings {
		if tm.Name == "incident opened after the replay" {
			opened = fmt.Sprintf(", opened %.0f ms after the replay", tm.MS)
		}
	}
	out.printf("\nincident %s (%s%s) reached: %s\n", inc.ID, inc.State, opened, strings.Join(reached, "; "))
	return demoIncidentResult{ok: inc.State == store.IncidentContained,
		detail: fmt.Sprintf("%s %s%s; reached %d SIEM sinks", inc.ID, inc.State, opened, len(reached))}
}

// containedDrillIncident returns the newest contained incident about a
// containment drill truck.
func containedDrillIncident(ctx context.Context, st store.Store) (store.Incident, error) {
	var found store.Incident
	after := ""
	for {
		page, err := st.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentContained, After: after, Limit: 100})
		if err != nil {
			return store.Incident{}, err
		}
		for _, inc := range page {
			if strings.HasPrefix(inc.Subject, drillPrefix+"-containment-") {
				found = inc // ids sort by time: the last is the newest
			}
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
	if found.ID == "" {
		return store.Incident{}, errors.New("no contained incident about a containment drill truck")
	}
	return found, nil
}

// awaitDemo polls f until it answers ok, for demoSIEMWait at most.
func awaitDemo[T any](ctx context.Context, f func() (T, bool)) (T, bool) {
	deadline := time.Now().Add(demoSIEMWait)
	for {
		if v, ok := f(); ok || time.Now().After(deadline) || ctx.Err() != nil {
			return v, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lineWith returns the 1-based number of the first line of file path that
// holds s.
func lineWith(path, s string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	needle := []byte(s)
	for n := 1; sc.Scan(); n++ {
		if bytes.Contains(sc.Bytes(), needle) {
			return n, true
		}
	}
	return 0, false
}

// natsMessageWith finds ev's message on its subject in the JetStream
// stream at url, as a SIEM subscriber would, and returns the subject and
// the message's stream sequence.
func natsMessageWith(ctx context.Context, url, stream, prefix string, ev store.EventRow) (string, uint64, error) {
	nc, err := nats.Connect(url, nats.Name("fifthwheel demo"))
	if err != nil {
		return "", 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", 0, err
	}
	subject := siem.NATSSubject(prefix, ev.Class, ev.Code)
	ctx, cancel := context.WithTimeout(ctx, demoSIEMWait)
	defer cancel()
	for ctx.Err() == nil {
		c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err == nil {
			for {
				msg, err := c.Next(jetstream.FetchMaxWait(time.Second))
				if err != nil {
					break // none left: look again from the start
				}
				if bytes.Contains(msg.Data(), []byte(ev.ID)) {
					md, err := msg.Metadata()
					if err != nil {
						return "", 0, err
					}
					return subject, md.Sequence.Stream, nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", 0, fmt.Errorf("no message with event %s on %s", ev.ID, subject)
}

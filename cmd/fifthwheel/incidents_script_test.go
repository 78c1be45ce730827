package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// cmdFinding is the scripts' stand-in for the detection engine:
//
//	finding DIR ID RULE VEHICLE [safety]
//
// reports one finding about VEHICLE to the incident manager on the store
// in DIR, as detect does in serve (with the rule's runbook text "Runbook
// of RULE: check the vehicle, then contain."), and prints the id of the
// incident holding it.
func cmdFinding(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 || len(args) > 5 {
		ts.Fatalf("usage: finding DIR ID RULE VEHICLE [safety]")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: ts.MkAbs(args[0])})
	ts.Check(err)
	defer st.Close()
	m, err := incident.New(incident.Config{}, incident.Deps{Store: st, Events: event.NewBus(nil, nil, event.NewStoreSink(st))})
	ts.Check(err)
	now := time.Now().UTC()
	ts.Check(m.Report(ctx, detect.Finding{ID: args[1], RuleID: args[2], Title: args[2] + " fired", Severity: codes.SeverityHigh,
		Safety: len(args) == 5 && args[4] == "safety", SubjectKind: "vehicle", Subject: args[3], FirstAt: now, At: now, Count: 1,
		EventIDs: []string{"ev-" + args[1]}, Runbook: "Runbook of " + args[2] + ": check the vehicle, then contain."}))
	id, err := st.IncidentOfFinding(ctx, args[1])
	ts.Check(err)
	fmt.Fprintln(ts.Stdout(), id)
}

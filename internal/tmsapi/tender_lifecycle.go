package tmsapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The change and the cancel of a stored tender (package doc, "Tender
// answers").

// changeAfterDispatch is the refusal of a change of a dispatched tender.
func changeAfterDispatch() *problem.Error {
	return problem.New(http.StatusConflict, codes.TenderChangeAfterDispatch,
		"the tender was dispatched: a change cannot reach the truck. Cancel the tender and tender the load again, "+
			"or send a route update for the vehicle (POST /v1/vehicles/{id}/route)")
}

// tenderChange replaces a stored tender not yet dispatched with the next
// revision, answered by the rules of an original (200).
func (a *API) tenderChange(q *req, t *Tender, stored store.Tender, now time.Time) answer {
	ctx := q.r.Context()
	if !stored.Cancelled.IsZero() {
		return answer{err: problem.New(http.StatusConflict, codes.TenderConflict, "the tender is cancelled: tender the load again under a new id")}
	}
	// The store refuses a change of a dispatched tender atomically
	// (ErrTenderDispatched); this read only spares the work.
	if cs, err := a.d.Store.TenderCommands(ctx, q.client(), t.TenderID, "", 1); err != nil {
		return answer{err: unavailable(err)}
	} else if len(cs) > 0 {
		return answer{err: changeAfterDispatch()}
	}
	ans := a.judge(q, t, now, stored.Revision+1)
	res := jsonAnswer(http.StatusOK, ans, nil)
	if res.err != nil {
		return res
	}
	idem := &store.IdempotencyRecord{Client: q.client(), Key: q.key, RequestSHA256: q.sha, Status: res.status, Body: res.body, Created: now}
	err := a.d.Store.ReviseTender(ctx, store.Tender{Client: q.client(), ID: t.TenderID, Carrier: stored.Carrier, Purpose: t.Purpose,
		Body: q.body, Answer: ans.Answer, Reasons: reasonCodes(ans.Reasons), Revision: ans.Revision, Updated: now}, idem)
	switch {
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		return answer{err: problem.New(http.StatusConflict, codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request")}
	case errors.Is(err, store.ErrTenderDispatched):
		return answer{err: changeAfterDispatch()}
	case errors.Is(err, store.ErrConflict):
		if rec, gerr := a.d.Store.GetIdempotency(ctx, q.client(), q.key, q.sha); gerr == nil {
			return replayAnswer(rec) // a retry racing the original
		}
		return answer{err: problem.New(http.StatusConflict, codes.TenderConflict,
			"the tender was changed or cancelled meanwhile: read its state and send the change again")}
	case errors.Is(err, store.ErrNotFound):
		return answer{err: notFound("no such tender")}
	case err != nil:
		return answer{err: unavailable(err)}
	}
	res.stored = true
	res.events = []event.Event{tenderEvent(q, t, ans)}
	return res
}

// tenderCancel cancels a stored tender and every command of it not yet
// delivered (command.Service.Cancel, which decides the race with a
// delivery); a delivered or executed command stays and is reported (200).
// A cancel of a cancelled tender answers so, and cancels whatever an
// interrupted first cancel left.
func (a *API) tenderCancel(q *req, stored store.Tender, now time.Time) answer {
	ctx := q.r.Context()
	tn, first, err := a.d.Store.CancelTender(ctx, q.client(), stored.ID, q.caller.Principal.String(), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return answer{err: notFound("no such tender")}
	case err != nil:
		return answer{err: unavailable(err)}
	}
	ans := TenderAnswer{TenderID: tn.ID, Purpose: PurposeCancel, Answer: AnswerCancelled, Reasons: []Reason{}, Carrier: tn.Carrier,
		RespondedAt: now, Revision: tn.Revision, CancelledAt: tn.Cancelled}
	if !first {
		ans.Reasons = append(ans.Reasons, Reason{Code: ReasonAlreadyCancelled,
			Detail: "the tender was cancelled at " + tn.Cancelled.Format(time.RFC3339Nano)})
	}
	var (
		evs                   []event.Event
		cancelled, inProgress []string
	)
	// cancelEvent is the decision's event; incomplete: the tender is
	// cancelled but its commands could not all be read or cancelled now
	// (503: a retry finishes the work).
	cancelEvent := func(incomplete bool) event.Event {
		return event.Event{Class: event.ClassCommand, Activity: "tender", Severity: codes.SeverityOf(codes.TenderCancelled, event.SeverityInfo),
			Actor: q.caller.Principal, Resource: "tender:" + tn.ID, Verdict: event.Accept, Code: codes.TenderCancelled,
			Attrs: map[string]any{"already": !first, "revision": tn.Revision, "carrier": tn.Carrier, "incomplete": incomplete,
				"cancelled": nonNilList(cancelled), "not_cancelled": nonNilList(inProgress)}}
	}
	after := ""
	for scanned := 0; ; {
		page, err := a.d.Store.TenderCommands(ctx, q.client(), tn.ID, after, store.MaxPage)
		if err != nil {
			return answer{err: unavailable(err), events: append(evs, cancelEvent(true))}
		}
		for _, c := range page {
			tc := TenderCommand{ID: c.ID, VehicleID: c.Vehicle, Type: c.Type, State: string(c.State)}
			if command.Cancellable(c.State) {
				d, err := a.d.Commands.Cancel(ctx, c.ID, q.caller.Principal, codes.TenderCancelled)
				evs = append(evs, d.Events...)
				var ce *command.Error
				switch {
				case errors.As(err, &ce):
					// It moved on meanwhile (a delivery won the race): as it is now.
				case err != nil:
					return answer{err: unavailable(err), events: append(evs, cancelEvent(true))}
				case d.Command.State == command.Cancelled && c.State != command.Cancelled:
					tc.Cancelled = true
				}
				if d.Command.ID != "" {
					tc.State = string(d.Command.State)
				}
			}
			st := command.State(tc.State)
			tc.PossiblyExecuted = command.PossiblyExecuted(st)
			switch {
			case tc.Cancelled:
				cancelled = append(cancelled, c.ID)
				ans.Reasons = append(ans.Reasons, Reason{Code: ReasonCommandCancelled, CommandID: c.ID,
					Detail: fmt.Sprintf("the %s of vehicle %s was cancelled before delivery: it never reaches the truck", c.Type, c.Vehicle)})
			case tc.PossiblyExecuted:
				inProgress = append(inProgress, c.ID)
				ans.Reasons = append(ans.Reasons, Reason{Code: ReasonCommandInProgress, CommandID: c.ID,
					Detail: fmt.Sprintf("the %s of vehicle %s is %s: it may have executed and was not undone; the load is in progress, handle it operationally",
						c.Type, c.Vehicle, tc.State)})
			}
			ans.Commands = append(ans.Commands, tc)
		}
		scanned += len(page)
		if len(page) < store.MaxPage {
			break
		}
		if scanned >= MaxTenderCommands {
			return answer{err: unavailable(fmt.Errorf("tender %s has over %d commands", tn.ID, MaxTenderCommands)), events: append(evs, cancelEvent(true))}
		}
		after = page[len(page)-1].ID
	}
	res := jsonAnswer(http.StatusOK, ans, nil)
	res.events = append(evs, cancelEvent(false))
	return res
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

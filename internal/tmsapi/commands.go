package tmsapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// CommandView is a command as the TMS sees it.
type CommandView struct {
	ID                string         `json:"id"`
	Type              string         `json:"type"`
	VehicleID         string         `json:"vehicle_id"`
	TenderID          string         `json:"tender_id,omitempty"`
	State             string         `json:"state"`
	PossiblyExecuted  bool           `json:"possibly_executed"`
	Final             bool           `json:"final"`
	RiskClass         string         `json:"risk_class"`
	ApprovalsRequired int            `json:"approvals_required"`
	RequestedBy       string         `json:"requested_by"`
	CmdSeq            int64          `json:"cmd_seq,omitzero"`
	CreatedAt         time.Time      `json:"created_at"`
	UpdatedAt         time.Time      `json:"updated_at"`
	ExpiresAt         time.Time      `json:"expires_at"`
	Verdict           string         `json:"verdict,omitempty"`
	AnswerReason      string         `json:"answer_reason,omitempty"`
	Payload           jsontext.Value `json:"payload,omitempty"`
	// Approvals and Transitions are omitted in lists.
	Approvals   []ApprovalView   `json:"approvals,omitempty"`
	Transitions []TransitionView `json:"transitions,omitempty"`
}

// ApprovalView is one approval.
type ApprovalView struct {
	Approver  string    `json:"approver"`
	At        time.Time `json:"at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TransitionView is one state change.
type TransitionView struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// CommandList is a page of commands.
type CommandList struct {
	Commands   []CommandView `json:"commands"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func view(c store.Command) CommandView {
	return CommandView{ID: c.ID, Type: c.Type, VehicleID: c.Vehicle, TenderID: c.TenderID, State: string(c.State),
		PossiblyExecuted: command.PossiblyExecuted(c.State), Final: command.Final(c.State), RiskClass: c.RiskClass,
		ApprovalsRequired: c.ApprovalsRequired, RequestedBy: c.RequestedBy, CmdSeq: c.CmdSeq, CreatedAt: c.CreatedAt.UTC(),
		UpdatedAt: c.UpdatedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(), Verdict: c.Verdict, AnswerReason: c.AnswerReason,
		Payload: jsontext.Value(c.Payload)}
}

// createdView is the command as created: its first transition and no
// approval yet.
func createdView(c store.Command) CommandView {
	v := view(c)
	v.Approvals = []ApprovalView{}
	v.Transitions = []TransitionView{{From: "", To: string(c.State), At: c.CreatedAt.UTC(), Actor: c.RequestedBy, Reason: "requested"}}
	return v
}

// fullView reads c's approvals and transitions.
func (a *API) fullView(q *req, c store.Command) (CommandView, error) {
	v := view(c)
	as, err := a.d.Store.ListApprovals(q.r.Context(), c.ID)
	if err != nil {
		return CommandView{}, err
	}
	trs, err := a.d.Store.CommandTransitions(q.r.Context(), c.ID)
	if err != nil {
		return CommandView{}, err
	}
	v.Approvals = make([]ApprovalView, len(as))
	for i, x := range as {
		v.Approvals[i] = ApprovalView{Approver: x.Approver, At: x.At.UTC(), ExpiresAt: x.ExpiresAt.UTC()}
	}
	v.Transitions = make([]TransitionView, len(trs))
	for i, t := range trs {
		v.Transitions[i] = TransitionView{From: string(t.From), To: string(t.To), At: t.At.UTC(), Actor: t.Actor, Reason: t.Reason}
	}
	return v, nil
}

// visible returns command id if the caller may see its carrier; another
// carrier's command is not found, exactly as an unknown one.
func (a *API) visible(q *req) (store.Command, *problem.Error) {
	id := q.r.PathValue("id")
	if !principal.ValidID(id) {
		return store.Command{}, notFound("no such command")
	}
	c, err := a.d.Commands.Get(q.r.Context(), id)
	switch {
	case errors.Is(err, command.ErrNotFound):
		return store.Command{}, notFound("no such command")
	case err != nil:
		return store.Command{}, unavailable(err)
	case !q.caller.MaySee(c.Carrier):
		return store.Command{}, notFound("no such command")
	}
	return c, nil
}

// answerView answers 200 with c's full view.
func (a *API) answerView(q *req, c store.Command, ans answer) answer {
	v, err := a.fullView(q, c)
	if err != nil {
		ans.err = unavailable(err)
		return ans
	}
	out := jsonAnswer(http.StatusOK, v, nil)
	out.events = ans.events
	return out
}

// getCommand serves GET /v1/commands/{id}.
func (a *API) getCommand(q *req) answer {
	c, perr := a.visible(q)
	if perr != nil {
		return answer{err: perr}
	}
	return a.answerView(q, c, answer{})
}

// scope is the carriers the caller may see.
func (q *req) scope() store.CarrierScope {
	if q.caller.Principal.Kind == principal.Operator && q.caller.Carrier == "" {
		return store.AllCarriers()
	}
	return store.OnlyCarrier(q.caller.Carrier) // "" selects none
}

// list serves GET /v1/commands?vehicle=&state=&cursor=&limit=.
func (a *API) list(q *req) answer {
	qs := q.r.URL.Query()
	for k, vs := range qs {
		if !slices.Contains([]string{"vehicle", "state", "cursor", "limit"}, k) || len(vs) != 1 {
			return answer{err: problem.New(http.StatusBadRequest, codes.BadQuery, "the query takes vehicle, state, cursor and limit, each at most once")}
		}
	}
	f := store.CommandFilter{Scope: q.scope(), Limit: store.DefaultPage}
	if v := qs.Get("vehicle"); qs.Has("vehicle") {
		if !principal.ValidID(v) {
			return answer{err: problem.New(http.StatusBadRequest, codes.BadQuery, "vehicle is malformed")}
		}
		f.Vehicle = v
	}
	if s := qs.Get("state"); qs.Has("state") {
		if !slices.Contains(command.States, command.State(s)) {
			return answer{err: problem.New(http.StatusBadRequest, codes.BadQuery, "state is not a command state")}
		}
		f.State = command.State(s)
	}
	if c := qs.Get("cursor"); qs.Has("cursor") {
		if !principal.ValidID(c) {
			return answer{err: problem.New(http.StatusBadRequest, codes.BadQuery, "cursor is malformed")}
		}
		f.After = c
	}
	if l := qs.Get("limit"); qs.Has("limit") {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListPage || strconv.Itoa(n) != l {
			return answer{err: problem.New(http.StatusBadRequest, codes.BadQuery, fmt.Sprintf("limit must be 1 to %d", MaxListPage))}
		}
		f.Limit = n
	}
	cs, err := a.d.Store.ListCommands(q.r.Context(), f)
	if err != nil {
		return answer{err: unavailable(err)}
	}
	out := CommandList{Commands: make([]CommandView, len(cs))}
	for i, c := range cs {
		out.Commands[i] = view(c)
		out.Commands[i].Payload = nil
	}
	if len(cs) == f.Limit {
		out.NextCursor = cs[len(cs)-1].ID
	}
	return jsonAnswer(http.StatusOK, out, nil)
}

// emptyBody is the body of an approval: nothing, or {} (strictly).
type emptyBody struct{}

// approve serves POST /v1/commands/{id}/approvals.
func (a *API) approve(q *req) answer {
	if len(q.body) > 0 {
		var e emptyBody
		if err := q.decode(&e); err != nil {
			return answer{err: err}
		}
	}
	c, perr := a.visible(q)
	if perr != nil {
		return answer{err: perr}
	}
	d, err := a.d.Commands.Approve(q.r.Context(), c.ID, q.caller.Principal)
	if err != nil {
		return a.fromDomain(d, err)
	}
	return a.answerView(q, d.Command, answer{events: d.Events})
}

// CancelRequest cancels a command.
type CancelRequest struct {
	Reason string `json:"reason"`
}

// cancel serves POST /v1/commands/{id}/cancel.
func (a *API) cancel(q *req) answer {
	var r CancelRequest
	if err := q.decode(&r); err != nil {
		return answer{err: err}
	}
	if len(r.Reason) > MaxReasonLen || !reasonRE.MatchString(r.Reason) {
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid,
			fmt.Sprintf("reason must be a code of 1 to %d characters of [A-Za-z0-9._-]", MaxReasonLen))}
	}
	c, perr := a.visible(q)
	if perr != nil {
		return answer{err: perr}
	}
	d, err := a.d.Commands.Cancel(q.r.Context(), c.ID, q.caller.Principal, r.Reason)
	if err != nil {
		return a.fromDomain(d, err)
	}
	return a.answerView(q, d.Command, answer{events: d.Events})
}

package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The command drills (issue 20) attack the command channel: a drill
// dispatcher (a TMS client of a drill carrier) tenders a hazmat load and
// dispatches it to a drill truck of that carrier, enrolled through the
// public path and in session with the gateway on the agent SDK, whose AV
// stack counts every command it is handed. What reaches the truck is
// read from the truck itself (its handler and its agent's events), what
// the gateway decided from GET /v1/commands/{id} and from its store.

// commandPath is the command route of id.
func commandPath(id string) string { return "/v1/commands/" + id }

// commandView is what the drills read of a command (tmsapi.CommandView).
type commandView struct {
	ID                string           `json:"id"`
	State             string           `json:"state"`
	ApprovalsRequired int              `json:"approvals_required"`
	Verdict           string           `json:"verdict"`
	ExpiresAt         time.Time        `json:"expires_at"`
	Transitions       []transitionView `json:"transitions"`
}

// transitionView is one state change of a command (tmsapi.TransitionView).
type transitionView struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// transition is v's transition to state to; false if it has none.
func (v commandView) transition(to string) (transitionView, bool) {
	for _, x := range v.Transitions {
		if x.To == to {
			return x, true
		}
	}
	return transitionView{}, false
}

// The command states the drills expect (internal/command).
const (
	statePending  = "pending_approval"
	stateQueued   = "queued"
	stateAccepted = "accepted"
	stateExpired  = "expired"
)

// commandSubject is how the gateway's events name command id.
func commandSubject(id string) string { return "command:" + id }

// countingHandler is a drill truck's AV stack for commands: it accepts
// every command the agent verified and counts how often each reached it.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

// HandleCommand implements agent.CommandHandler.
func (h *countingHandler) HandleCommand(_ context.Context, c agent.Command) agent.Answer {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[c.ID]++
	return agent.Accept()
}

// count is how often command id reached the handler; total every command.
func (h *countingHandler) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[id]
}

func (h *countingHandler) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.n {
		n += c
	}
	return n
}

// commandEvents is every agent event about a command, of any kind.
var commandEvents = []agent.EventKind{agent.EventCommandAnswered, agent.EventCommandRedelivered,
	agent.EventCommandRefused, agent.EventCommandNotAnswered}

// commandsSeen is how many agent events about a command the truck
// reported since from.
func (tr *truck) commandsSeen(from time.Time) int {
	n := 0
	for _, k := range commandEvents {
		n += len(tr.events(k, from))
	}
	return n
}

// commandScene is a command drill's set-up: a carrier, a drill truck of
// it in session, and the dispatcher with its token.
type commandScene struct {
	carrier string
	v       *vehicle
	tr      *truck
	disp    *tmsClient
	tok     string
	cleanup []func()
}

func (s *commandScene) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// newCommandScene registers a drill carrier and a drill truck of it,
// brings the truck into session on the agent SDK, and registers the
// dispatcher with roles and gets its token. what names them.
func newCommandScene(ctx context.Context, t *Target, p *Probe, what string, roles []string) (*commandScene, error) {
	s, err := newDispatchScene(ctx, t, p, what, roles)
	if err != nil {
		return nil, err
	}
	dt, err := s.addTruck(ctx, t, what, false)
	if err != nil {
		s.close()
		return nil, err
	}
	s.v, s.tr = dt.v, dt.tr
	return s, nil
}

// newDispatchScene registers a drill carrier and its dispatcher with
// roles, and gets the dispatcher's token; addTruck adds its trucks.
func newDispatchScene(ctx context.Context, t *Target, p *Probe, what string, roles []string) (*commandScene, error) {
	if err := t.needTMS(); err != nil {
		return nil, err
	}
	if len(t.GatewayCommandKeys) == 0 {
		return nil, errors.New("the target gives no gateway command keys for its trucks")
	}
	s := &commandScene{}
	var err error
	if s.carrier, err = scacCarrier(); err != nil {
		return nil, err
	}
	if s.disp, err = newTMSClientWith(ctx, t, what+"-dispatcher", s.carrier, roles); err != nil {
		return nil, err
	}
	disp := s.disp
	s.cleanup = append(s.cleanup, disp.close, func() { revokeClientAfter(ctx, t, p, disp.id, "the dispatcher") })
	if s.tok, err = disp.token(ctx, t, p); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// sceneTruck is a drill truck of a scene: its vehicle, its agent, its
// link, and the on-path attacker its session runs through (nil: none).
type sceneTruck struct {
	v    *vehicle
	tr   *truck
	link *silentLink
	path *onPath
}

// addTruck registers a drill truck of the scene's carrier, enrolls it
// through the public path and brings it into session on the agent SDK;
// onPath puts an on-path attacker inside its TLS path. The truck stops
// when the scene closes.
func (s *commandScene) addTruck(ctx context.Context, t *Target, what string, onPath bool) (*sceneTruck, error) {
	id, err := drillID(t, what)
	if err != nil {
		return nil, err
	}
	// Registered with its carrier first: the enrollment keeps it.
	if err := t.RegisterVehicle(ctx, id, s.carrier); err != nil {
		return nil, fmt.Errorf("register the drill truck: %w", err)
	}
	dt := &sceneTruck{link: &silentLink{}}
	if dt.v, err = enrollAs(ctx, t, id); err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, dt.v.close)
	if onPath {
		if dt.path, err = newOnPath(t, dt.v); err != nil {
			return nil, err
		}
		dt.link.via = dt.path.via
	}
	dt.tr, err = startTruckWith(ctx, t, dt.v, dt.link, func(c *agent.Config) {
		if dt.path != nil {
			c.GatewayCAPEM = dt.path.caPEM // the truck trusts the terminator
		}
		if t.TruckConfig != nil {
			t.TruckConfig(c)
		}
	})
	if err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, dt.tr.stop)
	return dt, nil
}

// approver registers a drill client of the scene's carrier with the
// approver role and gets its token; its certificates are revoked when
// the scene closes.
func (s *commandScene) approver(ctx context.Context, t *Target, p *Probe, what string) (*tmsClient, string, error) {
	c, err := newTMSClientWith(ctx, t, what, s.carrier, []string{string(authz.Approver)})
	if err != nil {
		return nil, "", err
	}
	s.cleanup = append(s.cleanup, c.close, func() { revokeClientAfter(ctx, t, p, c.id, "the approver "+c.id) })
	tok, err := c.token(ctx, t, p)
	return c, tok, err
}

// scacCarrier is a random carrier id of four lower-case letters: a
// tender names its carrier by SCAC, which the gateway takes as the
// carrier id in upper case (tmsapi.SCACOf), and a SCAC is 2 to 4
// letters. Another run may draw the same carrier: harmless, since the
// drills' vehicles and clients are unique.
func scacCarrier() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b[:]), nil
}

// hazmatTender is a load tender (an EDI 204 in JSON) of carrier with one
// hazmat line: a high-risk load.
func hazmatTender(id, carrier string) string {
	// Whole seconds, as a TMS writes them: the gateway puts them in the
	// command frame in its one time form (milliseconds).
	w := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	return `{"tender_id":"` + id + `","purpose":"original","references":{"bill_of_lading":"BOL-` + id + `"},"carrier":{"scac":"` + strings.ToUpper(carrier) + `"},` +
		`"equipment":"tanker","stops":[` +
		`{"sequence":1,"type":"pickup","facility":{"name":"Refinery","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"` + w(24*time.Hour) + `","end":"` + w(26*time.Hour) + `"}},` +
		`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"` + w(32*time.Hour) + `","end":"` + w(34*time.Hour) + `"}}],` +
		`"weights":{"gross_kg":20000},"hazmat":[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}],` +
		`"respond_by":"` + w(time.Hour) + `"}`
}

// dispatchBody assigns tender to vehicle on a two-waypoint route without
// a handoff point (one would be a handover, which needs its own approval:
// a standard load's dispatch here needs none).
func dispatchBody(tender, vehicle string) string {
	return `{"tender_id":"` + tender + `","vehicle_id":"` + vehicle + `","route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8}]}}`
}

// post sends POST path on the TMS listener with hc, the bearer token, the
// Idempotency-Key key and body (JSON; none if empty). It returns the
// answer and its headers.
func (t *Target) post(ctx context.Context, hc *http.Client, path, token, key, body string) (tmsAnswer, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.TMSURL+path, strings.NewReader(body))
	if err != nil {
		return tmsAnswer{}, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return tmsAnswer{}, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	a := tmsAnswer{status: resp.StatusCode}
	if a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxTMSBody)); err != nil {
		return a, resp.Header, err
	}
	var pb struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(a.body, &pb) == nil {
		a.code = pb.Code
	}
	return a, resp.Header, nil
}

// view decodes a command from an answer's body; its zero value if the
// body is not one.
func (a tmsAnswer) view() commandView {
	var v commandView
	_ = json.Unmarshal(a.body, &v) // a body that is not a command leaves no id: the checks say so
	return v
}

// freshKey is a fresh Idempotency-Key (or tender id) naming what.
func freshKey(t *Target, what string) (string, error) { return drillID(t, what) }

// tenderAndDispatch tenders a hazmat load and dispatches it to the
// scene's truck with Idempotency-Key dispatchKey; the tender is set-up
// (checked), the dispatch's answer is returned with its headers.
func (s *commandScene) tenderAndDispatch(ctx context.Context, t *Target, p *Probe, dispatchKey string) (string, tmsAnswer, http.Header, error) {
	tender, err := s.tender(ctx, t, p, true)
	if err != nil {
		return "", tmsAnswer{}, nil, err
	}
	body := dispatchBody(tender, s.v.id)
	d, h, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, dispatchKey, body)
	return body, d, h, err
}

// tender tenders a load of the scene's carrier, a hazmat one or a
// standard one (plainTender), and returns its id; its acceptance is
// set-up (checked).
func (s *commandScene) tender(ctx context.Context, t *Target, p *Probe, hazmat bool) (string, error) {
	tender, err := drillID(t, "tender")
	if err != nil {
		return "", err
	}
	key, err := freshKey(t, "tender-key")
	if err != nil {
		return "", err
	}
	body, what := hazmatTender(tender, s.carrier), "set-up: the hazmat tender"
	if !hazmat {
		body, what = plainTender(tender, s.carrier), "set-up: the tender"
	}
	a, _, err := t.post(ctx, s.disp.hc, "/v1/tenders", s.tok, key, body)
	if err != nil {
		return "", err
	}
	var ta struct {
		Answer string `json:"answer"`
	}
	_ = json.Unmarshal(a.body, &ta)
	if !p.Check(what, "201 accept", fmt.Sprintf("%s %s", a.String(), ta.Answer)) {
		return "", fmt.Errorf("the tender was not accepted: %.300s", a.body)
	}
	return tender, nil
}

// getCommand reads command id with the dispatcher's token.
func (s *commandScene) getCommand(ctx context.Context, t *Target, id string) (commandView, tmsAnswer, error) {
	a, _, err := t.get(ctx, s.disp.hc, commandPath(id), s.tok)
	if err != nil {
		return commandView{}, a, err
	}
	return a.view(), a, nil
}

// awaitState polls command id until its state is want (or wait passes)
// and returns its last view.
func (s *commandScene) awaitState(ctx context.Context, t *Target, id, want string, wait time.Duration) (commandView, error) {
	deadline := time.Now().Add(wait)
	for {
		v, _, err := s.getCommand(ctx, t, id)
		if err != nil || v.State == want || time.Now().After(deadline) {
			return v, err
		}
		if err := sleep(ctx, eventPoll); err != nil {
			return v, err
		}
	}
}

// quiet checks that the scene's truck was handed no command and its agent
// reported none, commandQuietWait long from since: what a command
// waiting for approvals must leave it.
func (s *commandScene) quiet(ctx context.Context, p *Probe, since time.Time, while string) error {
	if err := sleep(ctx, commandQuietWait); err != nil {
		return err
	}
	p.Check(fmt.Sprintf("drill truck: commands reaching its AV stack within %s %s", commandQuietWait, while), "0", fmt.Sprint(s.tr.handler.total()))
	p.Check(fmt.Sprintf("drill truck: agent command events within %s %s", commandQuietWait, while), "0", fmt.Sprint(s.tr.commandsSeen(since)))
	return nil
}

// approve posts an approval of command id by c with tok.
func approve(ctx context.Context, t *Target, c *tmsClient, tok, id string) (tmsAnswer, error) {
	key, err := freshKey(t, "approval-key")
	if err != nil {
		return tmsAnswer{}, err
	}
	a, _, err := t.post(ctx, c.hc, commandPath(id)+"/approvals", tok, key, "")
	return a, err
}

// commandWithoutApprovalsDrill: a hazmat dispatch (two approvals
// required) to a truck in session stays pending_approval and reaches
// nothing on the truck; command_created records the approvals required.
// Then two distinct approvers of the carrier approve: the truck executes
// it once and the command ends accepted (the positive control, timed
// from the second approval).
func commandWithoutApprovalsDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newCommandScene(ctx, t, p, "cmd-noapproval", []string{string(authz.Dispatcher)})
	if err != nil {
		return err
	}
	defer s.close()
	key, err := freshKey(t, "dispatch-key")
	if err != nil {
		return err
	}
	start := time.Now()
	_, d, _, err := s.tenderAndDispatch(ctx, t, p, key)
	if err != nil {
		return err
	}
	created := d.view()
	if !p.Check("the hazmat dispatch", fmt.Sprintf("202 %s, 2 approvals required", statePending),
		fmt.Sprintf("%s %s, %d approvals required", d.String(), created.State, created.ApprovalsRequired)) || created.ID == "" {
		return nil
	}
	if err := s.quiet(ctx, p, start, "of the dispatch, without approvals"); err != nil {
		return err
	}
	v, a, err := s.getCommand(ctx, t, created.ID)
	if err != nil {
		return err
	}
	p.Check("GET "+commandPath("{id}")+" without approvals", "200 "+statePending, a.String()+" "+v.State)
	if err := awaitMatch(ctx, t, p, codes.CommandCreated, commandSubject(created.ID), 0, p.eventWait,
		codes.CommandCreated+" about "+commandSubject(created.ID)+", 2 approvals required",
		func(r store.EventRow) (string, bool) {
			got := r.Code + " about " + r.Subject + ", " + eventAttr(r, "approvals_required") + " approvals required"
			return got, true
		}); err != nil {
		return err
	}

	// The positive control: two distinct approvers.
	ap1, tok1, err := s.approver(ctx, t, p, "cmd-approver-1")
	if err != nil {
		return err
	}
	ap2, tok2, err := s.approver(ctx, t, p, "cmd-approver-2")
	if err != nil {
		return err
	}
	a1, err := approve(ctx, t, ap1, tok1, created.ID)
	if err != nil {
		return err
	}
	p.Check("positive control: the first approval", "200 "+statePending, a1.String()+" "+a1.view().State)
	approved := time.Now()
	a2, err := approve(ctx, t, ap2, tok2, created.ID)
	if err != nil {
		return err
	}
	p.Check("positive control: the second approval, by another approver", "200", a2.String())
	v, err = s.awaitState(ctx, t, created.ID, stateAccepted, commandAcceptWait)
	if err != nil {
		return err
	}
	if p.Check("positive control: the command after two approvals", stateAccepted, v.State) {
		p.Timing("TMS approval → accepted (the second approval to the truck's signed answer, as GET reads it)", time.Since(approved), 0)
	}
	p.Check("positive control: times the command reached the truck's AV stack", "1", fmt.Sprint(s.tr.handler.count(created.ID)))
	return nil
}

// commandSelfApprovalDrill: the requester, holding the approver role as
// well as the dispatcher's, approves its own hazmat command: refused
// 403 command_approval_refused_self, recorded, the command still pending
// and the truck handed nothing.
func commandSelfApprovalDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newCommandScene(ctx, t, p, "cmd-self", []string{string(authz.Dispatcher), string(authz.Approver)})
	if err != nil {
		return err
	}
	defer s.close()
	key, err := freshKey(t, "dispatch-key")
	if err != nil {
		return err
	}
	start := time.Now()
	_, d, _, err := s.tenderAndDispatch(ctx, t, p, key)
	if err != nil {
		return err
	}
	created := d.view()
	if !p.Check("set-up: the hazmat dispatch", "202 "+statePending, d.String()+" "+created.State) || created.ID == "" {
		return errors.New("the hazmat dispatch did not wait for approvals")
	}
	a, err := approve(ctx, t, s.disp, s.tok, created.ID)
	if err != nil {
		return err
	}
	p.Check("the requester approves its own command", answer(http.StatusForbidden, codes.CommandApprovalRefusedSelf), a.String())
	if err := s.quiet(ctx, p, start, "of the self-approval"); err != nil {
		return err
	}
	v, g, err := s.getCommand(ctx, t, created.ID)
	if err != nil {
		return err
	}
	p.Check("GET "+commandPath("{id}")+" after the self-approval", "200 "+statePending, g.String()+" "+v.State)
	return awaitEvent(ctx, t, p, codes.CommandApprovalRefusedSelf, commandSubject(created.ID), nil)
}

// tmsRetryDrill: a TMS retries a dispatch (the same body, the same
// Idempotency-Key): the same answer, marked Idempotent-Replayed, one
// command; after its approvals the truck executes it once. The same key
// with another body is refused 409 idempotency_key_reused and recorded.
func tmsRetryDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newCommandScene(ctx, t, p, "cmd-retry", []string{string(authz.Dispatcher)})
	if err != nil {
		return err
	}
	defer s.close()
	key, err := freshKey(t, "dispatch-key")
	if err != nil {
		return err
	}
	body, first, _, err := s.tenderAndDispatch(ctx, t, p, key)
	if err != nil {
		return err
	}
	created := first.view()
	if !p.Check("set-up: the dispatch", "202", first.String()) || created.ID == "" {
		return fmt.Errorf("the dispatch was refused: %.300s", first.body)
	}
	again, h, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, key, body)
	if err != nil {
		return err
	}
	p.Check("the retried dispatch: status, Idempotent-Replayed", first.String()+" true", again.String()+" "+h.Get("Idempotent-Replayed"))
	p.Check("the retried dispatch: the same command", created.ID, again.view().ID)
	p.Check("the retried dispatch: the same answer, byte for byte", "identical",
		map[bool]string{true: "identical", false: "different"}[bytes.Equal(first.body, again.body)])

	ap1, tok1, err := s.approver(ctx, t, p, "cmd-retry-approver-1")
	if err != nil {
		return err
	}
	ap2, tok2, err := s.approver(ctx, t, p, "cmd-retry-approver-2")
	if err != nil {
		return err
	}
	for _, ap := range []struct {
		c   *tmsClient
		tok string
	}{{ap1, tok1}, {ap2, tok2}} {
		a, err := approve(ctx, t, ap.c, ap.tok, created.ID)
		if err != nil {
			return err
		}
		if !p.Check("set-up: the approval by "+ap.c.id[:strings.LastIndex(ap.c.id, "-")], "200", a.String()) {
			return nil
		}
	}
	v, err := s.awaitState(ctx, t, created.ID, stateAccepted, commandAcceptWait)
	if err != nil {
		return err
	}
	p.Check("the command, approved", stateAccepted, v.State)
	// A retry after execution: still the original answer, nothing new.
	late, _, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, key, body)
	if err != nil {
		return err
	}
	p.Check("the dispatch retried after execution: the same command", created.ID, late.view().ID)
	if err := sleep(ctx, commandRedeliveryWait); err != nil {
		return err
	}
	p.Check("times the command reached the truck's AV stack", "1", fmt.Sprint(s.tr.handler.count(created.ID)))
	p.Check("commands that reached the truck's AV stack", "1", fmt.Sprint(s.tr.handler.total()))

	other := strings.Replace(body, `"seq":2`, `"seq":3`, 1)
	r, _, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, key, other)
	if err != nil {
		return err
	}
	p.Check("the same Idempotency-Key with another body", answer(http.StatusConflict, codes.IdempotencyKeyReused), r.String())
	// The refusal names no command: the event is about the dispatcher.
	return awaitEvent(ctx, t, p, codes.IdempotencyKeyReused, s.disp.subject(), nil)
}

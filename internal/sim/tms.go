package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The simulated TMS (`fifthwheel sim tms`) tenders loads and dispatches
// them to connected simulated trucks over the TMS listener, as a TMS does:
// one dispatcher client and two approver clients (distinct, role approver,
// neither the requester), each with its own certificate and mutual-TLS
// connection and certificate-bound token. It measures TMS POST /v1/dispatches
// → the truck's signed answer recorded (state accepted).

// TMS defaults.
const (
	DefaultTMSPrefix       = "simtms"
	DefaultTMSCarrier      = "acme"
	DefaultTMSPoll         = 10 * time.Millisecond
	DefaultTMSAnswerWithin = 30 * time.Second
	// DefaultTMSTrackWithin bounds the wait, after the last load, for the
	// accepted loads' shipment status events (GET /v1/tenders/{id}/events):
	// a truck reports a load's five stop events one every
	// StopEventInterval after it accepts it.
	DefaultTMSTrackWithin = 12 * time.Second
	// DefaultTMSRetryEvery: every N-th load re-POSTs its dispatch with the
	// same Idempotency-Key at once and again after the truck's answer.
	DefaultTMSRetryEvery = 10
	// DefaultTMSRouteUpdateEvery: every N-th load, once its dispatch is
	// accepted, is re-routed (one approval, by the first approver).
	DefaultTMSRouteUpdateEvery = 5
	// MaxTMSRate bounds the loads started per second.
	MaxTMSRate = 200.0
	// MaxTMSInFlight bounds the loads in flight at once.
	MaxTMSInFlight = 2000
)

// TMSConfig is one run of the simulated TMS.
type TMSConfig struct {
	Gateway        Target
	Vehicles       []string // the connected trucks dispatched to, round robin
	Carrier        string
	IDPrefix       string  // names the clients PREFIX-dispatcher, PREFIX-approver-1/2 and the tenders
	Rate           float64 // loads started per second
	Duration       time.Duration
	HazmatFraction float64
	RetryEvery     int // every N-th load re-POSTs its dispatch at once and after the truck's answer (0: never)
	// RouteUpdateEvery: every N-th standard load, once accepted, gets a
	// route update naming it (If-Match "1", tender_id), approved by the
	// first approver, polled until final (0: never).
	RouteUpdateEvery int
	PollEvery        time.Duration
	AnswerWithin     time.Duration // a load not final by then counts as timed out
	TrackWithin      time.Duration // the wait for the accepted loads' tracking events
	// CalibrateFor is how long the one-core Ed25519 verify rate is
	// measured before and after the run (0: DefaultCalibrateFor): the
	// ceiling the latency figures are read beside.
	CalibrateFor time.Duration
}

func (c TMSConfig) withDefaults() TMSConfig {
	if c.Carrier == "" {
		c.Carrier = DefaultTMSCarrier
	}
	if c.IDPrefix == "" {
		c.IDPrefix = DefaultTMSPrefix
	}
	if c.PollEvery == 0 {
		c.PollEvery = DefaultTMSPoll
	}
	if c.AnswerWithin == 0 {
		c.AnswerWithin = DefaultTMSAnswerWithin
	}
	if c.TrackWithin == 0 {
		c.TrackWithin = DefaultTMSTrackWithin
	}
	if c.CalibrateFor == 0 {
		c.CalibrateFor = DefaultCalibrateFor
	}
	return c
}

func (c TMSConfig) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.Gateway.URL == "" || len(c.Gateway.CAPEM) == 0 {
		bad("gateway: the TMS listener's URL and the fleet CA are required")
	}
	if len(c.Vehicles) == 0 {
		bad("vehicles: at least one")
	}
	if !(c.Rate > 0 && c.Rate <= MaxTMSRate) {
		bad("rate: must be more than 0 and at most %g", MaxTMSRate)
	}
	if c.Duration <= 0 {
		bad("duration: must be more than 0")
	}
	if !(c.HazmatFraction >= 0 && c.HazmatFraction <= 1) {
		bad("hazmat fraction: must be 0 to 1")
	}
	if c.RouteUpdateEvery < 0 {
		bad("route update every: must be at least 0")
	}
	if c.RetryEvery < 0 {
		bad("retry every: must be at least 0")
	}
	if c.CalibrateFor <= 0 || c.CalibrateFor > time.Minute {
		bad("calibrate: must be more than 0 and at most 1m")
	}
	if c.PollEvery <= 0 || c.AnswerWithin <= 0 {
		bad("poll and answer bound: must be more than 0")
	}
	if len(errs) > 0 {
		return errors.New("sim: tms config: " + strings.Join(errs, "; "))
	}
	return nil
}

// TMSProvisioner registers the simulated TMS's principals.
type TMSProvisioner interface {
	// TMSClient registers client id of carrier with roles and returns a
	// new certificate and key for it.
	TMSClient(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error)
	// VehicleCarrier makes the registered vehicle id one of carrier.
	VehicleCarrier(ctx context.Context, id, carrier string) error
}

// TMS runs the simulated TMS. Create it with NewTMS and call Run once.
type TMS struct {
	cfg  TMSConfig
	prov TMSProvisioner
	base string

	dispatcher, approver1, approver2 *tmsClient

	mu    sync.Mutex
	rep   TMSReport
	std   []time.Duration // standard loads: POST dispatch → accepted recorded
	obs   []time.Duration // standard loads: POST dispatch → accepted seen by the poll
	haz   []time.Duration // hazmat: second approval → accepted recorded
	route []time.Duration // route updates: the approval → accepted recorded
	acc   []acceptedLoad  // the accepted loads, in the order they were seen accepted
}

// acceptedLoad is an accepted load: its tender id and truck.
type acceptedLoad struct{ id, vehicle string }

type tmsClient struct {
	id     string
	client *http.Client
	mu     sync.Mutex
	token  string
	exp    time.Time
}

// NewTMS validates cfg.
func NewTMS(cfg TMSConfig, prov TMSProvisioner) (*TMS, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if prov == nil {
		return nil, errors.New("sim: a TMS provisioner is required")
	}
	return &TMS{cfg: cfg, prov: prov, base: strings.TrimSuffix(cfg.Gateway.URL, "/")}, nil
}

// TMSReport is what a run of the simulated TMS measured.
type TMSReport struct {
	Started        time.Time `json:"started"`
	Duration       float64   `json:"duration_s"`
	Rate           float64   `json:"rate_per_s"`
	Vehicles       int       `json:"vehicles"`
	HazmatFraction float64   `json:"hazmat_fraction"`
	Loads          int       `json:"loads"`
	Hazmat         int       `json:"hazmat_loads"`
	Accepted       int       `json:"accepted"`
	Rejected       int       `json:"rejected"`
	Expired        int       `json:"expired"`
	OtherFinal     int       `json:"other_final"`
	TimedOut       int       `json:"timed_out"`
	// Abandoned loads met an unexpected refusal or answer (in Failures).
	Abandoned int `json:"abandoned"`
	Retries   int `json:"retries_checked"`
	// Throttled counts 429s (the per-client budget) honoured and retried.
	Throttled int `json:"throttled"`
	// DispatchToAccepted: standard loads, the dispatch POST sent → the
	// accepted transition recorded by the gateway (same host clock).
	DispatchToAccepted Dist `json:"dispatch_to_accepted"`
	// DispatchToSeen: the same, to the poll that first saw accepted.
	DispatchToSeen Dist `json:"dispatch_to_accepted_seen"`
	// ApprovalToAccepted: hazmat loads, the second approval's answer → the
	// accepted transition recorded.
	ApprovalToAccepted Dist `json:"approval_to_accepted"`
	// RouteUpdates counts the route updates sent; RoutesAccepted those the
	// truck accepted; RouteConflicts those refused 412 because the truck
	// had been dispatched another load meanwhile (correct, not a failure).
	RouteUpdates   int `json:"route_updates"`
	RoutesAccepted int `json:"route_updates_accepted"`
	RouteConflicts int `json:"route_update_conflicts"`
	// RouteApprovalToAccepted: route updates, the approval's answer → the
	// accepted transition recorded.
	RouteApprovalToAccepted Dist `json:"route_approval_to_accepted"`
	// Tracked, TrackedDelivered and TrackedETA count the accepted loads
	// whose GET /v1/tenders/{id}/events showed at least one shipment
	// status event, the delivery (D1), and an ETA, within TrackWithin
	// after the last load. A truck given a new load stops reporting the
	// one before, so with more loads than trucks not every load is
	// tracked to its delivery; these figures do not fail the run.
	Tracked          int `json:"tracked_loads"`
	TrackedDelivered int `json:"tracked_delivered"`
	TrackedETA       int `json:"tracked_with_eta"`
	// HazmatCommands are the accepted hazmat loads' command ids.
	HazmatCommands []string `json:"hazmat_commands"`
	// Ceiling is the one-core Ed25519 verify rate measured in this process
	// before the run, CeilingAfter after it (nil if the run was cut short).
	Ceiling      Ceiling  `json:"ceiling"`
	CeilingAfter *Ceiling `json:"ceiling_after,omitempty"`
	// Failures are unexpected refusals or broken invariants.
	Failures []string `json:"failures"`
}

func (t *TMS) fail(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rep.Failures) < 50 {
		t.rep.Failures = append(t.rep.Failures, fmt.Sprintf(format, a...))
	}
}

// abandon records a load given up on an unexpected answer.
func (t *TMS) abandon(format string, a ...any) {
	t.mu.Lock()
	t.rep.Abandoned++
	t.mu.Unlock()
	t.fail(format, a...)
}

// Run provisions the clients, sets the vehicles' carrier and runs the
// loads for Duration, then waits (bounded) for the loads in flight.
func (t *TMS) Run(ctx context.Context) (*TMSReport, error) {
	if err := t.provision(ctx); err != nil {
		return nil, err
	}
	for _, c := range []*tmsClient{t.dispatcher, t.approver1, t.approver2} {
		if _, err := c.bearer(ctx, t.base); err != nil {
			return nil, fmt.Errorf("sim: token for %s: %w", c.id, err)
		}
	}
	ceiling, err := calibrate(t.cfg.CalibrateFor)
	if err != nil {
		return nil, err
	}
	t.rep = TMSReport{Started: time.Now().UTC(), Rate: t.cfg.Rate, Vehicles: len(t.cfg.Vehicles),
		HazmatFraction: t.cfg.HazmatFraction, Failures: []string{}, HazmatCommands: []string{}, Ceiling: ceiling}
	t0 := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, t.cfg.Duration)
	defer cancel()
	every := time.Duration(float64(time.Second) / t.cfg.Rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	sem := make(chan struct{}, MaxTMSInFlight)
	var wg sync.WaitGroup
	hazAcc, standard := 0.0, 0
loop:
	for i := 0; ; i++ {
		hazAcc += t.cfg.HazmatFraction
		hazmat := hazAcc >= 1
		if hazmat {
			hazAcc--
		}
		retry := t.cfg.RetryEvery > 0 && i%t.cfg.RetryEvery == t.cfg.RetryEvery-1
		// Counted over the standard loads: with a hazmat fraction of 1/N,
		// every N-th load is hazmat, so an index rule could never pick one.
		if !hazmat {
			standard++
		}
		reroute := !hazmat && t.cfg.RouteUpdateEvery > 0 && standard%t.cfg.RouteUpdateEvery == 0
		select {
		case sem <- struct{}{}:
		case <-runCtx.Done():
			break loop
		}
		t.mu.Lock()
		t.rep.Loads++
		if hazmat {
			t.rep.Hazmat++
		}
		t.mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			t.load(context.WithoutCancel(ctx), i, t.cfg.Vehicles[i%len(t.cfg.Vehicles)], hazmat, retry, reroute)
		})
		select {
		case <-tick.C:
		case <-runCtx.Done():
			break loop
		}
	}
	wg.Wait()
	ran := time.Since(t0)
	t.track(context.WithoutCancel(ctx))
	// The ceiling again after the run: the machine may have changed.
	var after *Ceiling
	if ctx.Err() == nil {
		c, err := calibrate(t.cfg.CalibrateFor)
		if err != nil {
			return nil, err
		}
		after = &c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rep.CeilingAfter = after
	t.rep.Duration = ran.Seconds()
	t.rep.DispatchToAccepted, t.rep.DispatchToSeen, t.rep.ApprovalToAccepted = distOf(t.std), distOf(t.obs), distOf(t.haz)
	t.rep.RouteApprovalToAccepted = distOf(t.route)
	if t.rep.Loads == 0 {
		t.rep.Failures = append(t.rep.Failures, "no load was started")
	}
	if n := t.rep.Loads - t.rep.Accepted; n > 0 {
		t.rep.Failures = append(t.rep.Failures, fmt.Sprintf("%d loads not accepted (rejected %d, expired %d, other %d, timed out %d, abandoned %d)",
			n, t.rep.Rejected, t.rep.Expired, t.rep.OtherFinal, t.rep.TimedOut, t.rep.Abandoned))
	}
	rep := t.rep
	return &rep, nil
}

func (t *TMS) provision(ctx context.Context) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(t.cfg.Gateway.CAPEM) {
		return errors.New("sim: no fleet root in the gateway's CA PEM")
	}
	u, err := url.Parse(t.cfg.Gateway.URL)
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return fmt.Errorf("sim: gateway URL %q: not https://host:port", t.cfg.Gateway.URL)
	}
	sn := t.cfg.Gateway.ServerName
	if sn == "" {
		sn = u.Hostname()
	}
	for _, v := range t.cfg.Vehicles {
		if err := t.prov.VehicleCarrier(ctx, v, t.cfg.Carrier); err != nil {
			return fmt.Errorf("sim: vehicle %s: %w", v, err)
		}
	}
	mk := func(suffix, role string) (*tmsClient, error) {
		id := t.cfg.IDPrefix + "-" + suffix
		cert, err := t.prov.TMSClient(ctx, id, t.cfg.Carrier, []string{role})
		if err != nil {
			return nil, fmt.Errorf("sim: provision TMS client %s: %w", id, err)
		}
		// One connection per client, but without the one-connection cap
		// of h2Client's callers mattering: HTTP/2 multiplexes the loads.
		return &tmsClient{id: id, client: h2Client(roots, sn, cert, nil)}, nil
	}
	if t.dispatcher, err = mk("dispatcher", "dispatcher"); err != nil {
		return err
	}
	if t.approver1, err = mk("approver-1", "approver"); err != nil {
		return err
	}
	t.approver2, err = mk("approver-2", "approver")
	return err
}

// bearer returns c's token, getting a new one a minute before it expires.
func (c *tmsClient) bearer(ctx context.Context, base string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.exp) > time.Minute {
		return c.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+accessTokenPath,
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("http %d %s", resp.StatusCode, problemCode(b))
	}
	c.token, c.exp = out.AccessToken, time.Now().Add(time.Duration(out.ExpiresIn)*time.Second)
	return c.token, nil
}

func problemCode(b []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Code
}

// call sends one request as c; it returns the status and body. A 429
// (the per-client budget, access.rate_per_second) is honoured: the
// request is sent again after its Retry-After (at most 1 s, bounded by
// AnswerWithin in all) and counted as throttled; any other refusal is the
// caller's to judge.
func (t *TMS) call(ctx context.Context, c *tmsClient, method, path, key string, body []byte) (int, []byte, http.Header, error) {
	return t.callIf(ctx, c, method, path, key, body, "")
}

// callIf is call with an If-Match header when ifMatch is not empty.
func (t *TMS) callIf(ctx context.Context, c *tmsClient, method, path, key string, body []byte, ifMatch string) (int, []byte, http.Header, error) {
	deadline := time.Now().Add(t.cfg.AnswerWithin)
	for {
		st, b, h, err := t.call1(ctx, c, method, path, key, body, ifMatch)
		if err != nil || st != http.StatusTooManyRequests || time.Now().After(deadline) {
			return st, b, h, err
		}
		t.mu.Lock()
		t.rep.Throttled++
		t.mu.Unlock()
		wait := 100 * time.Millisecond
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(time.Duration(s)*time.Second, time.Second)
		}
		time.Sleep(max(wait, t.cfg.PollEvery))
	}
}

func (t *TMS) call1(ctx context.Context, c *tmsClient, method, path, key string, body []byte, ifMatch string) (int, []byte, http.Header, error) {
	tok, err := c.bearer(ctx, t.base)
	if err != nil {
		return 0, nil, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, loadRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, t.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, resp.Header, err
}

type tmsCommand struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Final     bool   `json:"final"`
	Approvals []struct {
		Approver string    `json:"approver"`
		At       time.Time `json:"at"`
	} `json:"approvals"`
	Transitions []struct {
		To string    `json:"to"`
		At time.Time `json:"at"`
	} `json:"transitions"`
}

func (c tmsCommand) at(state string) (time.Time, int) {
	var at time.Time
	n := 0
	for _, tr := range c.Transitions {
		if tr.To == state {
			if n == 0 {
				at = tr.At
			}
			n++
		}
	}
	return at, n
}

// tenderJSON is a load tender shaped like an EDI 204 (api/openapi.yaml,
// Tender), as in the README's walkthrough.
func tenderJSON(id string, hazmat bool) []byte {
	day := time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
	w := func(h int) string { return day.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	haz, equip := "[]", "dry_van"
	if hazmat {
		haz, equip = `[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}]`, "tanker"
	}
	return fmt.Appendf(nil, `{"tender_id":%q,"purpose":"original","references":{"bill_of_lading":"BOL-%s"},"carrier":{"scac":"ACME"},`+
		`"equipment":%q,"stops":[`+
		`{"sequence":1,"type":"pickup","facility":{"name":"Origin","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":%q,"end":%q}},`+
		`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":%q,"end":%q}}],`+
		`"weights":{"gross_kg":20000},"hazmat":%s,"respond_by":%q}`,
		id, id, equip, w(8), w(10), w(16), w(18), haz, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

// load runs one load: tender, dispatch (if retry, sent again at once),
// the two approvals if hazmat, then polls until the command is final (if
// retry and accepted, the dispatch sent again: the original answer).
func (t *TMS) load(ctx context.Context, i int, vehicle string, hazmat, retry, reroute bool) {
	id := fmt.Sprintf("%s-%d-%06d", t.cfg.IDPrefix, t.rep.Started.Unix(), i)
	st, b, _, err := t.call(ctx, t.dispatcher, http.MethodPost, "/v1/tenders", "tender-"+id, tenderJSON(id, hazmat))
	var tans struct {
		Answer string `json:"answer"`
	}
	if err != nil || st != http.StatusCreated || json.Unmarshal(b, &tans) != nil || tans.Answer != "accept" {
		t.abandon("load %s: tender: http %d %s %v %s", id, st, problemCode(b), err, tans.Answer)
		return
	}
	dispatch := fmt.Appendf(nil, `{"tender_id":%q,"vehicle_id":%q,"route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8}]}}`, id, vehicle)
	sent := time.Now()
	st, b, _, err = t.call(ctx, t.dispatcher, http.MethodPost, "/v1/dispatches", "dispatch-"+id, dispatch)
	var cmd tmsCommand
	if err != nil || st != http.StatusAccepted || json.Unmarshal(b, &cmd) != nil || cmd.ID == "" {
		t.abandon("load %s: dispatch: http %d %s %v", id, st, problemCode(b), err)
		return
	}
	if hazmat != (cmd.State == "pending_approval") {
		t.abandon("load %s: dispatch (hazmat %v) created in state %s", id, hazmat, cmd.State)
		return
	}
	original := b
	// retryDispatch re-POSTs the dispatch with its Idempotency-Key: the
	// original answer, byte for byte, and no new command.
	retryDispatch := func(when string) bool {
		st, b, h, err := t.call(ctx, t.dispatcher, http.MethodPost, "/v1/dispatches", "dispatch-"+id, dispatch)
		var again tmsCommand
		if err != nil || st != http.StatusAccepted || json.Unmarshal(b, &again) != nil || again.ID != cmd.ID ||
			h.Get("Idempotent-Replayed") != "true" || !bytes.Equal(b, original) {
			t.abandon("load %s: dispatch retried %s: http %d %s %v: id %q, want the original answer (%q)", id, when, st, problemCode(b), err, again.ID, cmd.ID)
			return false
		}
		return true
	}
	if retry && !retryDispatch("at once") {
		return
	}
	var approved time.Time
	if hazmat {
		for n, ap := range []*tmsClient{t.approver1, t.approver2} {
			st, b, _, err := t.call(ctx, ap, http.MethodPost, "/v1/commands/"+cmd.ID+"/approvals", fmt.Sprintf("approve-%d-%s", n, id), nil)
			var v tmsCommand
			if err != nil || st != http.StatusOK || json.Unmarshal(b, &v) != nil {
				t.abandon("load %s: approval %d by %s: http %d %s %v", id, n+1, ap.id, st, problemCode(b), err)
				return
			}
			if n == 0 && v.State != "pending_approval" {
				t.abandon("load %s: after one approval the command is %s, not pending_approval", id, v.State)
				return
			}
		}
		approved = time.Now()
	}
	final, seen, ok := t.poll(ctx, cmd.ID, sent)
	if !ok {
		if final.ID == "" { // else the poll was refused, already abandoned
			t.mu.Lock()
			t.rep.TimedOut++
			t.mu.Unlock()
			t.fail("load %s: command %s not final within %s", id, cmd.ID, t.cfg.AnswerWithin)
		}
		return
	}
	accAt, _ := final.at("accepted")
	_, deliveries := final.at("delivered")
	if retry && final.State == "accepted" && !retryDispatch("after the truck's answer") {
		return
	}
	if reroute && final.State == "accepted" {
		t.reroute(ctx, id, vehicle)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch final.State {
	case "accepted":
		t.rep.Accepted++
	case "rejected":
		t.rep.Rejected++
	case "expired":
		t.rep.Expired++
	default:
		t.rep.OtherFinal++
	}
	if final.State != "accepted" {
		return
	}
	t.acc = append(t.acc, acceptedLoad{id: id, vehicle: vehicle})
	if retry {
		t.rep.Retries++
	}
	if deliveries != 1 {
		t.rep.Failures = append(t.rep.Failures, fmt.Sprintf("load %s: command %s delivered %d times", id, cmd.ID, deliveries))
	}
	if hazmat {
		delAt, _ := final.at("delivered")
		if len(final.Approvals) != 2 || final.Approvals[0].Approver == final.Approvals[1].Approver {
			t.rep.Failures = append(t.rep.Failures, fmt.Sprintf("load %s: accepted with approvals %+v", id, final.Approvals))
		}
		for _, a := range final.Approvals {
			if delAt.Before(a.At) {
				t.rep.Failures = append(t.rep.Failures, fmt.Sprintf("load %s: delivered before the approval of %s", id, a.Approver))
			}
		}
		t.haz = append(t.haz, max(0, accAt.Sub(approved)))
		t.rep.HazmatCommands = append(t.rep.HazmatCommands, cmd.ID)
		return
	}
	t.std = append(t.std, max(0, accAt.Sub(sent)))
	t.obs = append(t.obs, seen.Sub(sent))
}

// reroute sends the route update of load id, carried by vehicle, naming
// the load and revision 1 (its dispatch): one approval by the first
// approver, then polled until final. A 412 means the truck was
// dispatched another load meanwhile: counted, not a failure.
func (t *TMS) reroute(ctx context.Context, id, vehicle string) {
	body := fmt.Appendf(nil, `{"tender_id":%q,"route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":31.5,"lon":-97.1},{"seq":3,"lat":32.7,"lon":-96.8}]},"reason":"road_closure"}`, id)
	t.mu.Lock()
	t.rep.RouteUpdates++
	t.mu.Unlock()
	sent := time.Now()
	st, b, _, err := t.callIf(ctx, t.dispatcher, http.MethodPost, "/v1/vehicles/"+vehicle+"/route", "route-"+id, body, `"1"`)
	var cmd tmsCommand
	switch {
	case err == nil && st == http.StatusPreconditionFailed:
		t.mu.Lock()
		t.rep.RouteConflicts++
		t.mu.Unlock()
		return
	case err != nil || st != http.StatusAccepted || json.Unmarshal(b, &cmd) != nil || cmd.ID == "":
		t.fail("load %s: route update: http %d %s %v", id, st, problemCode(b), err)
		return
	case cmd.State != "pending_approval":
		t.fail("load %s: route update created in state %s, want pending_approval (one approval)", id, cmd.State)
		return
	}
	st, b, _, err = t.call(ctx, t.approver1, http.MethodPost, "/v1/commands/"+cmd.ID+"/approvals", "approve-route-"+id, nil)
	if err != nil || st != http.StatusOK {
		t.fail("load %s: route update approval: http %d %s %v", id, st, problemCode(b), err)
		return
	}
	approved := time.Now()
	final, _, ok := t.poll(ctx, cmd.ID, sent)
	if !ok {
		if final.ID == "" {
			t.fail("load %s: route update %s not final within %s", id, cmd.ID, t.cfg.AnswerWithin)
		}
		return
	}
	if final.State != "accepted" {
		t.fail("load %s: route update %s ended %s", id, cmd.ID, final.State)
		return
	}
	accAt, _ := final.at("accepted")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rep.RoutesAccepted++
	t.route = append(t.route, max(0, accAt.Sub(approved)))
}

// track reads every accepted load's shipment status events once, then
// keeps reading those of each truck's last load (a truck given a new load
// stops reporting the one before) until each shows its delivery or
// TrackWithin has passed, and counts what it saw.
func (t *TMS) track(ctx context.Context) {
	t.mu.Lock()
	loads := slices.Clone(t.acc)
	t.mu.Unlock()
	last := map[string]string{} // vehicle → its last load
	for _, l := range loads {
		last[l.vehicle] = l.id
	}
	type seen struct{ any, delivered, eta bool }
	got := map[string]seen{}
	read := func(id string) {
		st, b, _, err := t.call(ctx, t.dispatcher, http.MethodGet, "/v1/tenders/"+id+"/events", "", nil)
		var v struct {
			Events []struct {
				Code string `json:"code"`
			} `json:"events"`
			ETA *struct{} `json:"eta"`
		}
		if err != nil || st != http.StatusOK || json.Unmarshal(b, &v) != nil {
			return
		}
		s := got[id]
		s.any = s.any || len(v.Events) > 0
		s.eta = s.eta || v.ETA != nil
		for _, e := range v.Events {
			s.delivered = s.delivered || e.Code == "D1"
		}
		got[id] = s
	}
	deadline := time.Now().Add(t.cfg.TrackWithin)
	pending := make([]string, 0, len(last))
	for _, l := range loads {
		read(l.id)
		if last[l.vehicle] == l.id && !got[l.id].delivered {
			pending = append(pending, l.id)
		}
	}
	for len(pending) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(min(500*time.Millisecond, time.Until(deadline)))
		var still []string
		for _, id := range pending {
			read(id)
			if !got[id].delivered {
				still = append(still, id)
			}
		}
		pending = still
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range got {
		if s.any {
			t.rep.Tracked++
		}
		if s.delivered {
			t.rep.TrackedDelivered++
		}
		if s.eta {
			t.rep.TrackedETA++
		}
	}
}

// poll GETs the command every PollEvery until it is final (bounded by
// AnswerWithin from sent); it returns the final command and when it was
// seen.
func (t *TMS) poll(ctx context.Context, id string, sent time.Time) (tmsCommand, time.Time, bool) {
	deadline := sent.Add(t.cfg.AnswerWithin)
	for time.Now().Before(deadline) {
		st, b, _, err := t.call(ctx, t.dispatcher, http.MethodGet, "/v1/commands/"+id, "", nil)
		seen := time.Now()
		var v tmsCommand
		if err == nil && st == http.StatusOK && json.Unmarshal(b, &v) == nil && v.Final {
			return v, seen, true
		}
		if err != nil || st != http.StatusOK {
			t.abandon("command %s: GET: http %d %s %v", id, st, problemCode(b), err)
			return tmsCommand{ID: id}, seen, false
		}
		time.Sleep(t.cfg.PollEvery)
	}
	return tmsCommand{}, time.Time{}, false
}

// WriteJSON writes the report as indented JSON.
func (r *TMSReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a person.
func (r *TMSReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "simulated TMS\t%.1fs at %g loads/s to %d vehicles, hazmat fraction %g\n", r.Duration, r.Rate, r.Vehicles, r.HazmatFraction)
	fmt.Fprintf(tw, "loads\t%d (hazmat %d, retries checked %d, 429s honoured %d)\n", r.Loads, r.Hazmat, r.Retries, r.Throttled)
	fmt.Fprintf(tw, "route updates\t%d sent, %d accepted, %d refused 412 (the truck had another load by then)\n", r.RouteUpdates, r.RoutesAccepted, r.RouteConflicts)
	fmt.Fprintf(tw, "accepted / rejected / expired / other / timed out / abandoned\t%d / %d / %d / %d / %d / %d\n",
		r.Accepted, r.Rejected, r.Expired, r.OtherFinal, r.TimedOut, r.Abandoned)
	fmt.Fprintf(tw, "tracked (any event / delivered / with ETA)\t%d / %d / %d of %d accepted\n", r.Tracked, r.TrackedDelivered, r.TrackedETA, r.Accepted)
	fmt.Fprintf(tw, "\tn\tp50 ms\tp99 ms\tmax ms\n")
	for _, row := range []struct {
		name string
		d    Dist
	}{{"POST dispatch → accepted recorded (standard)", r.DispatchToAccepted},
		{"POST dispatch → accepted seen by poll (standard)", r.DispatchToSeen},
		{"second approval → accepted recorded (hazmat)", r.ApprovalToAccepted},
		{"approval → accepted recorded (route update)", r.RouteApprovalToAccepted}} {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\n", row.name, row.d.N, row.d.P50, row.d.P99, row.d.Max)
	}
	fmt.Fprintf(tw, "one-core verify rate\t%.0f /s before (%.1f µs each, per %s second)%s\n", r.Ceiling.VerifyPerSec,
		micros(r.Ceiling.VerifyPerSec), r.Ceiling.Basis, afterCeiling(r.CeilingAfter))
	for _, f := range r.Failures {
		fmt.Fprintf(tw, "FAIL\t%s\n", f)
	}
	return tw.Flush()
}

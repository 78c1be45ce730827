package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// The TMS access driver (`fifthwheel sim access`) measures the TMS
// listener's access control from outside, as TMS clients meet it: each
// client is a registered TMS client with its own certificate, on its own
// mutual-TLS HTTP/2 connection, and talks to the gateway only over the
// network: POST /oauth2/token (tls_client_auth) and the guarded
// GET /v1/vehicles/{id}/state with its certificate-bound token.

// AccessMode is what the driver's clients do.
type AccessMode string

const (
	// AccessTokens: every client POSTs /oauth2/token over and over.
	AccessTokens AccessMode = "tokens"
	// AccessReads: every client gets a token and GETs vehicle states
	// with it (a new token every FreshTokenEvery reads if set).
	AccessReads AccessMode = "reads"
	// AccessMix: even-numbered clients read, odd-numbered ones mint tokens.
	AccessMix AccessMode = "mix"
)

// Paths of the TMS listener the driver calls (internal/authz and
// internal/liveness serve them; docs/OPERATIONS.md documents them).
const (
	accessTokenPath = "/oauth2/token"
	vehicleStateFmt = "/v1/vehicles/%s/state"
)

// AccessConfig is one run of the access driver: data only. Zero fields
// take the defaults in limits.go; NewAccess validates the result.
type AccessConfig struct {
	// Gateway is the TMS listener (URL https://host:port), the name its
	// certificate carries if not the URL's host, and the fleet root.
	Gateway Target
	// Clients is how many TMS clients run at once, each on its own
	// connection. Required.
	Clients int
	// Vehicles is how many vehicles of Carrier the reads go to (default 1).
	Vehicles int
	// IDPrefix names the clients PREFIX-c00000, … and the vehicles
	// PREFIX-v00000, … (default DefaultAccessPrefix).
	IDPrefix string
	// Carrier of the clients and the vehicles (default DefaultAccessCarrier).
	Carrier string
	// Roles the clients are given (may be empty: a client without roles is
	// refused a token, which the report counts as an error).
	Roles []string
	// Mode: AccessTokens, AccessReads or AccessMix. Required.
	Mode AccessMode
	// FreshTokenEvery, if above 0, makes a reading client get a new token
	// every FreshTokenEvery reads, so the guard verifies a token it has not
	// seen (its signature) instead of finding it in its cache.
	FreshTokenEvery int
	// Duration of the run, warm-up included. Required.
	Duration time.Duration
	// Warmup is left out of the sustained figures (default 5 s).
	Warmup time.Duration
	// CalibrateFor is how long the one-core verify rate is measured,
	// before and after the run (default 2 s).
	CalibrateFor time.Duration
	// GatewayPID, if not 0, is the gateway's process (its CPU use).
	GatewayPID int
	// DBPath, if set, is the gateway's SQLite database (its growth).
	DBPath string
	// ProvisionWorkers register and certify this many clients at once
	// (default DefaultProvisionWorkers).
	ProvisionWorkers int
	// SummaryEvery is the live line's period (default 5 s; negative: none).
	SummaryEvery time.Duration
}

func (c AccessConfig) withDefaults() AccessConfig {
	if c.IDPrefix == "" {
		c.IDPrefix = DefaultAccessPrefix
	}
	if c.Carrier == "" {
		c.Carrier = DefaultAccessCarrier
	}
	if c.Vehicles == 0 {
		c.Vehicles = 1
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultLoadWarmup
	}
	if c.CalibrateFor == 0 {
		c.CalibrateFor = DefaultCalibrateFor
	}
	if c.ProvisionWorkers == 0 {
		c.ProvisionWorkers = DefaultProvisionWorkers
	}
	if c.SummaryEvery == 0 {
		c.SummaryEvery = DefaultSummaryEvery
	}
	return c
}

func (c AccessConfig) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.Gateway.URL == "" || len(c.Gateway.CAPEM) == 0 {
		bad("gateway: the TMS listener's URL and the fleet CA are required")
	}
	if c.Clients < 1 || c.Clients > MaxAccessClients {
		bad("clients: must be 1 to %d", MaxAccessClients)
	}
	if c.Vehicles < 1 || c.Vehicles > MaxAccessVehicles {
		bad("vehicles: must be 1 to %d", MaxAccessVehicles)
	}
	switch c.Mode {
	case AccessTokens, AccessReads, AccessMix:
	default:
		bad("mode: must be %s, %s or %s", AccessTokens, AccessReads, AccessMix)
	}
	if c.FreshTokenEvery < 0 {
		bad("fresh token every: must be at least 0")
	}
	if c.FreshTokenEvery > 0 && c.Mode == AccessTokens {
		bad("fresh token every: only for reads (mode %s or %s)", AccessReads, AccessMix)
	}
	if c.Mode == AccessMix && c.Clients < 2 {
		bad("clients: mode %s needs at least 2 (one reads, one mints tokens)", AccessMix)
	}
	if c.Duration <= 0 {
		bad("duration: must be more than 0")
	}
	if c.Warmup < 0 || c.Warmup >= c.Duration {
		bad("warm-up: must be at least 0 and shorter than the duration")
	}
	if c.CalibrateFor <= 0 || c.CalibrateFor > time.Minute {
		bad("calibration: must be more than 0 and at most 1m")
	}
	if c.GatewayPID < 0 {
		bad("gateway pid: must not be negative")
	}
	if len(errs) > 0 {
		return errors.New("sim: access config: " + strings.Join(errs, "; "))
	}
	return nil
}

// AccessProvisioner registers the driver's principals at the gateway's
// registry and certifies its clients (in `fifthwheel sim access`, through
// the fleet CA and the store, as `client add`, `client roles set`,
// `pki issue client` and `vehicle add` do).
type AccessProvisioner interface {
	// TMSClient registers client id as one of carrier (if it is not yet),
	// sets its roles to roles, and returns a new certificate and key for
	// it.
	TMSClient(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error)
	// Vehicle registers vehicle id as one of carrier (if it is not yet).
	Vehicle(ctx context.Context, id, carrier string) error
}

// AccessDeps are the driver's live collaborators.
type AccessDeps struct {
	// Provisioner registers and certifies. Required.
	Provisioner AccessProvisioner
	// OnSummary, if set, receives the live line every SummaryEvery.
	OnSummary func(AccessSummary)
	// DialContext, if set, dials the gateway.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the driver's messages; nil is slog.Default().
	Log *slog.Logger
}

// Access drives TMS clients against a running gateway's TMS listener.
// Create it with NewAccess and call Run once.
type Access struct {
	cfg      AccessConfig
	d        AccessDeps
	log      *slog.Logger
	clients  []*accessClient
	vehicles []string
	running  atomic.Bool

	windowStart, windowEnd time.Time
	tokens, reads          accessStats
}

// accessClient is one TMS client: its id, connection and current token.
type accessClient struct {
	id     string
	client *http.Client
	reads  bool // reads (else mints tokens)
	token  string
	exp    time.Time
	used   int // reads with token
	next   int // next vehicle index
	// notBefore is when the client may call again after a 429 or a
	// refused token request.
	notBefore time.Time
}

// NewAccess validates cfg and deps.
func NewAccess(cfg AccessConfig, deps AccessDeps) (*Access, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Provisioner == nil {
		return nil, errors.New("sim: AccessDeps.Provisioner is required")
	}
	if err := checkOpenFiles(cfg.Clients*fdsPerVehicle + fdsSpare); err != nil {
		return nil, err
	}
	a := &Access{cfg: cfg, d: deps, log: deps.Log}
	if a.log == nil {
		a.log = slog.Default()
	}
	for i := range cfg.Clients {
		reads := cfg.Mode == AccessReads || cfg.Mode == AccessMix && i%2 == 0
		a.clients = append(a.clients, &accessClient{id: fmt.Sprintf("%s-c%05d", cfg.IDPrefix, i), reads: reads,
			next: i % cfg.Vehicles})
	}
	for i := range cfg.Vehicles {
		a.vehicles = append(a.vehicles, fmt.Sprintf("%s-v%05d", cfg.IDPrefix, i))
	}
	return a, nil
}

// ClientIDs returns the ids of the run's TMS clients.
func (a *Access) ClientIDs() []string {
	out := make([]string, len(a.clients))
	for i, c := range a.clients {
		out[i] = c.id
	}
	return out
}

// VehicleIDs returns the ids of the vehicles the reads go to.
func (a *Access) VehicleIDs() []string { return slices.Clone(a.vehicles) }

// Run provisions the clients and vehicles, measures the one-core verify
// rate, runs the clients for Duration (the warm-up included), measures the
// verify rate again and returns the report. If ctx ends first, the report
// covers what ran.
func (a *Access) Run(ctx context.Context) (*AccessReport, error) {
	if !a.running.CompareAndSwap(false, true) {
		return nil, errors.New("sim: Run called twice")
	}
	r := &AccessReport{Started: time.Now().UTC(), Mode: a.cfg.Mode, Clients: a.cfg.Clients, Vehicles: a.cfg.Vehicles,
		Carrier: a.cfg.Carrier, Roles: slices.Clone(a.cfg.Roles), FreshTokenEvery: a.cfg.FreshTokenEvery,
		Warmup: a.cfg.Warmup.Seconds(), GatewayPID: a.cfg.GatewayPID}
	if r.Roles == nil {
		r.Roles = []string{}
	}
	if err := a.provision(ctx); err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range a.clients {
			c.client.CloseIdleConnections()
		}
	}()
	var err error
	if r.Ceiling, err = calibrate(a.cfg.CalibrateFor); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	dbBefore := dbSize(a.cfg.DBPath)
	t0 := time.Now()
	a.windowStart, a.windowEnd = t0.Add(a.cfg.Warmup), t0.Add(a.cfg.Duration)
	a.tokens.init()
	a.reads.init()
	sumCtx, stopSum := context.WithCancel(ctx)
	sumDone := make(chan struct{})
	go func() { a.summaryLoop(sumCtx, t0); close(sumDone) }()

	var mark accessMark
	markDone := make(chan struct{})
	go func() {
		defer close(markDone)
		if sleepUntil(ctx, a.windowStart) {
			mark = a.cpuNow()
		}
	}()
	runCtx, cancel := context.WithDeadline(ctx, a.windowEnd)
	var wg sync.WaitGroup
	for _, c := range a.clients {
		wg.Go(func() { a.drive(runCtx, c) })
	}
	<-runCtx.Done()
	end := time.Now()
	endMark := a.cpuNow()
	cancel()
	<-markDone
	wg.Wait()
	stopSum()
	<-sumDone

	r.Duration = end.Sub(t0).Seconds()
	r.Tokens, r.Reads = a.tokens.fill(), a.reads.fill()
	window := end.Sub(t0) - a.cfg.Warmup
	if window > 0 && mark.ok {
		r.Window = window.Seconds()
		r.Tokens.PerSec = float64(a.tokens.windowOK.Load()) / window.Seconds()
		r.Reads.PerSec = float64(a.reads.windowOK.Load()) / window.Seconds()
		r.LoadCores = cores(mark.self, endMark.self, mark.selfOK && endMark.selfOK, window)
		if a.cfg.GatewayPID != 0 {
			if mark.gwErr == nil && endMark.gwErr == nil {
				c := cores(mark.gw, endMark.gw, true, window)
				r.GatewayCores = &c
				answered := a.tokens.windowAnswered.Load() + a.reads.windowAnswered.Load()
				if answered > 0 {
					r.GatewayCPUPerRequest = (endMark.gw - mark.gw).Seconds() * 1e6 / float64(answered)
				}
			} else {
				r.GatewayCPUError = errors.Join(mark.gwErr, endMark.gwErr).Error()
			}
		}
	}
	if a.cfg.DBPath != "" {
		r.DBPath = a.cfg.DBPath
		r.DBBytesBefore, r.DBBytesAfter = dbBefore, dbSize(a.cfg.DBPath)
	}
	// The ceiling again after the run: the machine may have changed.
	if ctx.Err() == nil {
		after, err := calibrate(a.cfg.CalibrateFor)
		if err != nil {
			return nil, err
		}
		r.CeilingAfter = &after
	}
	return r, nil
}

// accessMark is a CPU reading of this process and of the gateway.
type accessMark struct {
	ok     bool
	self   time.Duration
	selfOK bool
	gw     time.Duration
	gwErr  error
}

func (a *Access) cpuNow() accessMark {
	m := accessMark{ok: true}
	m.self, m.selfOK = processCPU()
	if a.cfg.GatewayPID != 0 {
		m.gw, m.gwErr = pidCPU(a.cfg.GatewayPID)
	}
	return m
}

// provision registers the vehicles, then registers and certifies the
// clients and gives each its HTTP/2 connection.
func (a *Access) provision(ctx context.Context) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(a.cfg.Gateway.CAPEM) {
		return errors.New("sim: no fleet root in the gateway's CA PEM")
	}
	u, err := url.Parse(a.cfg.Gateway.URL)
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return fmt.Errorf("sim: gateway URL %q: not https://host:port", a.cfg.Gateway.URL)
	}
	serverName := a.cfg.Gateway.ServerName
	if serverName == "" {
		serverName = u.Hostname()
	}
	if err := forEachVehicle(ctx, len(a.vehicles), a.cfg.ProvisionWorkers, func(ctx context.Context, i int) error {
		if err := a.d.Provisioner.Vehicle(ctx, a.vehicles[i], a.cfg.Carrier); err != nil {
			return fmt.Errorf("sim: register vehicle %s: %w", a.vehicles[i], err)
		}
		return nil
	}); err != nil {
		return err
	}
	return forEachVehicle(ctx, len(a.clients), a.cfg.ProvisionWorkers, func(ctx context.Context, i int) error {
		c := a.clients[i]
		cert, err := a.d.Provisioner.TMSClient(ctx, c.id, a.cfg.Carrier, a.cfg.Roles)
		if err != nil {
			return fmt.Errorf("sim: provision TMS client %s: %w", c.id, err)
		}
		c.client = h2Client(roots, serverName, cert, a.d.DialContext)
		return nil
	})
}

// drive runs one client until ctx ends.
func (a *Access) drive(ctx context.Context, c *accessClient) {
	for ctx.Err() == nil {
		if !sleepUntil(ctx, c.notBefore) {
			return
		}
		if !c.reads {
			a.token(ctx, c)
			continue
		}
		stale := c.token == "" || !time.Now().Before(c.exp.Add(-accessRenewBefore))
		if stale || a.cfg.FreshTokenEvery > 0 && c.used >= a.cfg.FreshTokenEvery {
			if !a.token(ctx, c) {
				continue
			}
		}
		a.read(ctx, c)
	}
}

// answer is one request's outcome.
type answer struct {
	status int
	body   []byte
	reason string // "" for 200; else "http STATUS code" or "error: …"
	start  time.Time
	done   time.Time
}

// do sends req on c's connection; the request outlives ctx (a request
// sent is answered and counted), bounded by loadRequestTimeout.
func (a *Access) do(ctx context.Context, c *accessClient, req *http.Request) answer {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadRequestTimeout)
	defer cancel()
	req = req.WithContext(rctx)
	ans := answer{start: time.Now()}
	resp, err := c.client.Do(req)
	if err != nil {
		ans.done, ans.reason = time.Now(), transportReason(err)
		return ans
	}
	ans.body, err = io.ReadAll(io.LimitReader(resp.Body, maxAccessBody))
	resp.Body.Close()
	ans.done, ans.status = time.Now(), resp.StatusCode
	switch {
	case err != nil:
		ans.reason = transportReason(err)
	case resp.StatusCode != http.StatusOK:
		ans.reason = httpReason(resp.StatusCode, ans.body)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			c.notBefore = ans.done.Add(retryAfter(resp.Header.Get("Retry-After")))
		}
	}
	return ans
}

// token POSTs /oauth2/token for c and keeps the token; false if none came.
func (a *Access) token(ctx context.Context, c *accessClient) bool {
	req, err := http.NewRequest(http.MethodPost, a.cfg.Gateway.URL+accessTokenPath,
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		a.tokens.count(a, answer{reason: "bad_request"})
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ans := a.do(ctx, c, req)
	if ans.reason == "" {
		var out struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		if json.Unmarshal(ans.body, &out) != nil || out.AccessToken == "" || !strings.EqualFold(out.TokenType, "Bearer") || out.ExpiresIn <= 0 {
			ans.reason = "bad_response"
		} else {
			c.token, c.exp, c.used = out.AccessToken, ans.start.Add(time.Duration(out.ExpiresIn)*time.Second), 0
		}
	}
	a.tokens.count(a, ans)
	if ans.reason != "" && c.notBefore.Before(ans.done) {
		// A refused token request is not retried at once: the refusal is
		// the finding, and hammering the endpoint would only repeat it.
		c.notBefore = ans.done.Add(time.Second)
	}
	return ans.reason == ""
}

// read GETs the state of c's next vehicle with c's token.
func (a *Access) read(ctx context.Context, c *accessClient) {
	id := a.vehicles[c.next]
	c.next = (c.next + 1) % len(a.vehicles)
	c.used++
	req, err := http.NewRequest(http.MethodGet, a.cfg.Gateway.URL+fmt.Sprintf(vehicleStateFmt, url.PathEscape(id)), nil)
	if err != nil {
		a.reads.count(a, answer{reason: "bad_request"})
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	ans := a.do(ctx, c, req)
	if ans.reason == "" {
		var out struct {
			VehicleID string `json:"vehicle_id"`
		}
		if json.Unmarshal(ans.body, &out) != nil || out.VehicleID != id {
			ans.reason = "bad_response"
		}
	}
	a.reads.count(a, ans)
}

func (a *Access) inWindow(t time.Time) bool {
	return !t.Before(a.windowStart) && !t.After(a.windowEnd)
}

// accessStats counts one kind of request.
type accessStats struct {
	requests, ok, windowOK, windowAnswered, tooMany atomic.Int64

	mu        sync.Mutex
	refused   map[string]int64
	latencies []time.Duration
	capped    bool
}

func (s *accessStats) init() { s.refused = map[string]int64{} }

func (s *accessStats) count(a *Access, ans answer) {
	s.requests.Add(1)
	answered := ans.status != 0
	if answered && a.inWindow(ans.done) {
		s.windowAnswered.Add(1)
	}
	if ans.reason == "" {
		s.ok.Add(1)
		if a.inWindow(ans.done) {
			s.windowOK.Add(1)
		}
	}
	if ans.status == http.StatusTooManyRequests {
		s.tooMany.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ans.reason != "" {
		bump(s.refused, ans.reason, 1)
		return
	}
	if a.inWindow(ans.start) {
		if len(s.latencies) < maxLatencySamples {
			s.latencies = append(s.latencies, ans.done.Sub(ans.start))
		} else {
			s.capped = true
		}
	}
}

func (s *accessStats) fill() AccessOps {
	s.mu.Lock()
	defer s.mu.Unlock()
	return AccessOps{Requests: s.requests.Load(), OK: s.ok.Load(), WindowAnswered: s.windowAnswered.Load(),
		Refused: maps.Clone(s.refused), Latency: distOf(s.latencies), LatencyCapped: s.capped}
}

// AccessReport is the end of an access run.
type AccessReport struct {
	Started         time.Time  `json:"started"`
	Mode            AccessMode `json:"mode"`
	Clients         int        `json:"clients"`
	Vehicles        int        `json:"vehicles"`
	Carrier         string     `json:"carrier"`
	Roles           []string   `json:"roles"`
	FreshTokenEvery int        `json:"fresh_token_every,omitempty"`
	Duration        float64    `json:"duration_s"` // warm-up included
	Warmup          float64    `json:"warmup_s"`
	Window          float64    `json:"window_s"` // what the sustained figures cover

	// Ceiling is the one-core Ed25519 verify rate measured in this process
	// before the run, CeilingAfter after it (nil if the run was cut short).
	Ceiling      Ceiling  `json:"ceiling"`
	CeilingAfter *Ceiling `json:"ceiling_after,omitempty"`

	// Tokens are the POST /oauth2/token requests, Reads the guarded
	// GET /v1/vehicles/{id}/state ones.
	Tokens AccessOps `json:"tokens"`
	Reads  AccessOps `json:"reads"`

	// LoadCores is this process's CPU use in the window.
	LoadCores float64 `json:"load_cores"`
	// GatewayCores is the gateway's CPU use in the window (/proc/PID/stat);
	// GatewayCPUPerRequest its CPU time in the window divided by the
	// requests (tokens and reads) it answered in the window, µs.
	GatewayPID           int      `json:"gateway_pid,omitempty"`
	GatewayCores         *float64 `json:"gateway_cores,omitempty"`
	GatewayCPUPerRequest float64  `json:"gateway_cpu_us_per_request,omitempty"`
	GatewayCPUError      string   `json:"gateway_cpu_error,omitempty"`

	DBPath        string `json:"db_path,omitempty"`
	DBBytesBefore int64  `json:"db_bytes_before,omitempty"`
	DBBytesAfter  int64  `json:"db_bytes_after,omitempty"`
}

// AccessOps are the figures of one kind of request.
type AccessOps struct {
	// Requests sent; OK answered 200 with a well-formed body.
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// PerSec: OK answers that arrived in the window, per second.
	PerSec float64 `json:"ok_per_s"`
	// WindowAnswered: answers of any status that arrived in the window.
	WindowAnswered int64 `json:"answered_in_window"`
	// Latency of the OK requests sent in the window.
	Latency       Dist `json:"latency"`
	LatencyCapped bool `json:"latency_capped,omitempty"`
	// Refused: the others, by HTTP status and problem code ("http 401
	// access_token_invalid"), or transport error, or "bad_response".
	Refused map[string]int64 `json:"refused"`
}

// expectedRefusal: a 429 is the gateway's per-client budget working as
// configured (honoured with its Retry-After).
func expectedRefusal(reason string) bool { return strings.HasPrefix(reason, "http 429") }

// Failures lists what makes the run a failure: a refusal other than a
// 429 (every request the driver sends is one the gateway must grant), or
// no successful request of a kind the mode sends.
func (r *AccessReport) Failures() []string {
	var out []string
	for _, k := range []struct {
		name string
		ops  AccessOps
	}{{"token requests", r.Tokens}, {"reads", r.Reads}} {
		for _, reason := range slices.Sorted(maps.Keys(k.ops.Refused)) {
			if !expectedRefusal(reason) {
				out = append(out, fmt.Sprintf("%d %s refused: %s", k.ops.Refused[reason], k.name, reason))
			}
		}
	}
	if r.Tokens.OK == 0 {
		out = append(out, "no token was issued")
	}
	if r.Mode != AccessTokens && r.Reads.OK == 0 {
		out = append(out, "no read succeeded")
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *AccessReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *AccessReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	p("started", "%s", r.Started.Format(time.RFC3339))
	fresh := "one token per reading client (the guard's cached path)"
	switch {
	case r.Mode == AccessTokens:
		fresh = "every client mints tokens"
	case r.FreshTokenEvery > 0:
		fresh = fmt.Sprintf("a new token every %d reads (uncached verify)", r.FreshTokenEvery)
	}
	p("mode", "%s, %d clients of carrier %s (roles %s), %d vehicles; %s", r.Mode, r.Clients, r.Carrier,
		strings.Join(r.Roles, ","), r.Vehicles, fresh)
	p("duration", "%.1f s, warm-up %.1f s left out: figures cover %.1f s", r.Duration, r.Warmup, r.Window)
	p("one-core verify rate", "%.0f /s before (%.1f µs each, per %s second)%s", r.Ceiling.VerifyPerSec,
		micros(r.Ceiling.VerifyPerSec), r.Ceiling.Basis, afterCeiling(r.CeilingAfter))
	ops := func(name string, o AccessOps) {
		p(name, "%.0f /s ok; p50 %.2f ms, p99 %.2f ms, max %.1f ms (%d in window)", o.PerSec, o.Latency.P50, o.Latency.P99,
			o.Latency.Max, o.Latency.N)
		p("  requests", "%d, ok %d, refused %d%s", o.Requests, o.OK, sum(o.Refused), byKey(o.Refused))
	}
	ops("tokens issued", r.Tokens)
	ops("guarded reads", r.Reads)
	switch {
	case r.GatewayCores != nil:
		p("gateway CPU", "%.2f cores (pid %d): %.1f µs per answered request", *r.GatewayCores, r.GatewayPID, r.GatewayCPUPerRequest)
	case r.GatewayCPUError != "":
		p("gateway CPU", "unknown: %s", r.GatewayCPUError)
	default:
		p("gateway CPU", "unknown (no --gateway-pid, none in serve.addrs)")
	}
	p("load CPU", "%.2f cores", r.LoadCores)
	if r.DBPath != "" {
		p("database", "%s: %.1f → %.1f MiB", r.DBPath, mib(r.DBBytesBefore), mib(r.DBBytesAfter))
	}
	return tw.Flush()
}

func micros(perSec float64) float64 {
	if perSec <= 0 {
		return 0
	}
	return 1e6 / perSec
}

func afterCeiling(c *Ceiling) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf(", %.0f /s after", c.VerifyPerSec)
}

// AccessSummary is the live line of an access run.
type AccessSummary struct {
	Elapsed          time.Duration
	Warm             bool
	TokensPerSec     float64
	ReadsPerSec      float64
	Refused, TooMany int64
	GatewayCores     float64
	HasGateway       bool
}

func (s AccessSummary) String() string {
	phase := "warm-up"
	if s.Warm {
		phase = "run"
	}
	line := fmt.Sprintf("%6.1fs %-7s tokens %.0f/s | reads %.0f/s | refused %d (429: %d)",
		s.Elapsed.Seconds(), phase, s.TokensPerSec, s.ReadsPerSec, s.Refused, s.TooMany)
	if s.HasGateway {
		line += fmt.Sprintf(" | gateway %.2f cores", s.GatewayCores)
	}
	return line
}

func (a *Access) summaryLoop(ctx context.Context, t0 time.Time) {
	if a.d.OnSummary == nil || a.cfg.SummaryEvery <= 0 {
		return
	}
	t := time.NewTicker(a.cfg.SummaryEvery)
	defer t.Stop()
	prev, prevTok, prevRead := t0, int64(0), int64(0)
	prevGW, gwErr := time.Duration(0), error(nil)
	if a.cfg.GatewayPID != 0 {
		prevGW, gwErr = pidCPU(a.cfg.GatewayPID)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		tok, rd := a.tokens.ok.Load(), a.reads.ok.Load()
		secs := now.Sub(prev).Seconds()
		s := AccessSummary{Elapsed: now.Sub(t0), Warm: now.Sub(t0) >= a.cfg.Warmup,
			TokensPerSec: float64(tok-prevTok) / secs, ReadsPerSec: float64(rd-prevRead) / secs,
			TooMany: a.tokens.tooMany.Load() + a.reads.tooMany.Load()}
		for _, st := range []*accessStats{&a.tokens, &a.reads} {
			st.mu.Lock()
			s.Refused += sum(st.refused)
			st.mu.Unlock()
		}
		if a.cfg.GatewayPID != 0 && gwErr == nil {
			if gw, err := pidCPU(a.cfg.GatewayPID); err == nil {
				s.GatewayCores, s.HasGateway = float64(gw-prevGW)/float64(now.Sub(prev)), true
				prevGW = gw
			}
		}
		prev, prevTok, prevRead = now, tok, rd
		a.d.OnSummary(s)
	}
}

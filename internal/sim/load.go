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
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// LoadConfig is a sustained-ingest run (`fifthwheel sim load`): data only.
// Zero fields take the defaults in limits.go; NewLoad validates the result.
type LoadConfig struct {
	// Common: the enrolled vehicles that post, each over its own mTLS
	// HTTP/2 connection like a truck; the gateway's vehicle listener and
	// fleet root (FrameKeys are not used: the batch path's answer is not
	// signed); the state directory, shared with `sim fleet`. A negative
	// SummaryEvery prints no live line.
	Common
	// Duration of the load, warm-up included. Required.
	Duration time.Duration
	// Warmup is left out of the sustained figures (default 5 s); it must be
	// shorter than Duration.
	Warmup time.Duration
	// Batch is frames per POST, 1 … MaxLoadBatch (default 64).
	Batch int
	// Concurrency is how many POSTs are in flight at once, 1 … Vehicles
	// (default Vehicles: one per vehicle). A vehicle never has two in
	// flight: its frames reach the gateway in seq order.
	Concurrency int
	// CalibrateFor is how long the one-core verify rate is measured
	// (default 2 s).
	CalibrateFor time.Duration
	// GatewayPID, if not 0, is the gateway's process: its CPU use is read
	// from /proc/PID/stat.
	GatewayPID int
	// DBPath, if set, is the gateway's SQLite database: its growth (with
	// its -wal file) is reported.
	DBPath string
	// ReplayEvery, if not 0, makes each vehicle send one replay after every
	// ReplayEvery frames the gateway accepted from it: a frame with the
	// (epoch, seq) of one of them and other bytes, validly signed, in a
	// POST of its own. The gateway must refuse each with replay and store
	// a security event for it (what the detection engine is measured on).
	// Replays are counted apart (LoadReport.Replays), not as frames sent.
	ReplayEvery int
}

func (c LoadConfig) withDefaults() LoadConfig {
	c.Common = c.Common.withDefaults(DefaultLoadPrefix)
	if c.Warmup == 0 {
		c.Warmup = DefaultLoadWarmup
	}
	if c.Batch == 0 {
		c.Batch = DefaultLoadBatch
	}
	if c.Concurrency == 0 {
		c.Concurrency = c.Vehicles
	}
	if c.CalibrateFor == 0 {
		c.CalibrateFor = DefaultCalibrateFor
	}
	return c
}

func (c LoadConfig) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	c.Common.validate(bad, "vehicles")
	if c.Gateway.URL == "" || len(c.Gateway.CAPEM) == 0 {
		bad("gateway: URL and fleet CA are required")
	}
	if c.Duration <= 0 {
		bad("duration: must be more than 0")
	}
	if c.Warmup < 0 || c.Warmup >= c.Duration {
		bad("warm-up: must be at least 0 and shorter than the duration")
	}
	if c.Batch < 1 || c.Batch > MaxLoadBatch {
		bad("batch: must be 1 to %d frames", MaxLoadBatch)
	}
	if c.Concurrency < 1 || c.Concurrency > c.Vehicles {
		bad("concurrency: must be 1 to the number of vehicles (a vehicle sends one batch at a time)")
	}
	if c.CalibrateFor <= 0 || c.CalibrateFor > time.Minute {
		bad("calibration: must be more than 0 and at most 1m")
	}
	if c.GatewayPID < 0 {
		bad("gateway pid: must not be negative")
	}
	if c.ReplayEvery < 0 {
		bad("replay every: must be 0 (no replays) or more")
	}
	if len(errs) > 0 {
		return errors.New("sim: load config: " + strings.Join(errs, "; "))
	}
	return nil
}

// LoadDeps are the load generator's live collaborators.
type LoadDeps struct {
	// Provisioner gives each vehicle its credentials. Required.
	Provisioner Provisioner
	// OnSummary, if set, receives the live line every SummaryEvery.
	OnSummary func(LoadSummary)
	// DialContext, if set, dials the gateway.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the runner's messages; nil is slog.Default().
	Log *slog.Logger
}

// Load posts pre-signed telemetry batches from enrolled vehicles to a
// running gateway's batch path and measures what the gateway durably
// accepts. Create it with NewLoad and call Run once.
//
// Frames are signed just in time: each sender signs a vehicle's next batch
// (fresh seqs from the vehicle's own counter, ts = now) right before it
// posts it, so every frame is live-fresh when it leaves and nothing waits
// signed in a queue. That signing costs this process CPU on the machine
// the gateway runs on; the report gives this process's CPU and the part
// of it signing took (estimated from the same-run one-core signing cost)
// apart from the gateway's.
type Load struct {
	cfg LoadConfig
	d   LoadDeps
	log *slog.Logger
	ids []string
	vs  []*loadVehicle

	running atomic.Bool
	st      loadStats
}

// loadVehicle is one vehicle's sending side.
type loadVehicle struct {
	id      string
	signer  frame.Signer
	kid     string
	counter *agent.Counter
	client  *http.Client
	reused  bool
	// lat, lon is where the vehicle's route starts.
	lat, lon float64
	// notBefore is when the vehicle may post again after a 429.
	notBefore time.Time
	// sent is the (epoch, seq, ts) of each frame of the last batch, in
	// order; sinceReplay counts the frames accepted since its last replay
	// (LoadConfig.ReplayEvery).
	sent        []sentFrame
	sinceReplay int
}

// sentFrame is a frame of a batch as it was signed.
type sentFrame struct {
	epoch, seq uint64
	ts         time.Time
}

// NewLoad validates cfg and deps.
func NewLoad(cfg LoadConfig, deps LoadDeps) (*Load, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Provisioner == nil {
		return nil, errors.New("sim: LoadDeps.Provisioner is required")
	}
	if err := checkOpenFiles(cfg.Vehicles*fdsPerVehicle + fdsSpare); err != nil {
		return nil, err
	}
	l := &Load{cfg: cfg, d: deps, log: deps.Log}
	if l.log == nil {
		l.log = slog.Default()
	}
	width := max(5, len(fmt.Sprint(cfg.Vehicles-1)))
	for i := range cfg.Vehicles {
		l.ids = append(l.ids, fmt.Sprintf("%s-%0*d", cfg.IDPrefix, width, i))
	}
	return l, nil
}

// VehicleIDs returns the ids of the load's vehicles.
func (l *Load) VehicleIDs() []string { return append([]string(nil), l.ids...) }

// Run provisions the vehicles, measures the one-core verify rate, posts
// for Duration (the warm-up included), waits for the requests in flight
// and returns the report. If ctx ends first, the report covers what ran.
func (l *Load) Run(ctx context.Context) (*LoadReport, error) {
	if !l.running.CompareAndSwap(false, true) {
		return nil, errors.New("sim: Run called twice")
	}
	r := &LoadReport{Started: time.Now().UTC(), Vehicles: l.cfg.Vehicles, Batch: l.cfg.Batch, Concurrency: l.cfg.Concurrency,
		Warmup: l.cfg.Warmup.Seconds(), GatewayPID: l.cfg.GatewayPID, Signing: signingNote}
	if err := l.provision(ctx); err != nil {
		return nil, err
	}
	for _, v := range l.vs {
		if !v.reused {
			r.Enrolled++
		}
	}
	defer func() {
		for _, v := range l.vs {
			v.client.CloseIdleConnections()
		}
	}()
	var err error
	if r.Ceiling, err = calibrate(l.cfg.CalibrateFor); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	dbBefore := dbSize(l.cfg.DBPath)
	t0 := time.Now()
	l.st.init(t0.Add(l.cfg.Warmup), t0.Add(l.cfg.Duration))
	sumCtx, stopSum := context.WithCancel(ctx)
	sumDone := make(chan struct{})
	go func() { l.summaryLoop(sumCtx, t0); close(sumDone) }()

	var mark cpuMark
	markDone := make(chan struct{})
	go func() {
		defer close(markDone)
		if sleepUntil(ctx, t0.Add(l.cfg.Warmup)) {
			mark = l.cpuNow()
		}
	}()

	runCtx, cancel := context.WithDeadline(ctx, t0.Add(l.cfg.Duration))
	var wg sync.WaitGroup
	for s := range l.cfg.Concurrency {
		var mine []*loadVehicle
		for i := s; i < len(l.vs); i += l.cfg.Concurrency {
			mine = append(mine, l.vs[i])
		}
		wg.Go(func() { l.sender(runCtx, mine) })
	}
	<-runCtx.Done()
	end := time.Now()
	endMark := l.cpuNow()
	cancel()
	<-markDone
	wg.Wait() // requests in flight finish (bounded by loadRequestTimeout) and are counted
	stopSum()
	<-sumDone

	l.st.fill(r)
	if l.cfg.ReplayEvery > 0 {
		l.st.fillReplays(r, l.cfg.ReplayEvery)
	}
	r.Duration = end.Sub(t0).Seconds()
	window := end.Sub(t0) - l.cfg.Warmup
	if window > 0 && mark.ok {
		r.Window = window.Seconds()
		r.FramesPerSec = float64(l.st.windowAccepted.Load()) / window.Seconds()
		if r.Ceiling.VerifyPerSec > 0 {
			r.CeilingRatio = r.FramesPerSec / r.Ceiling.VerifyPerSec
		}
		r.LoadCores = cores(mark.self, endMark.self, mark.selfOK && endMark.selfOK, window)
		if r.Ceiling.SignSeconds > 0 {
			signed := float64(l.st.windowSigned.Load())
			r.SigningCores = signed * r.Ceiling.SignSeconds / window.Seconds()
		}
		if l.cfg.GatewayPID != 0 {
			if mark.gwErr == nil && endMark.gwErr == nil {
				c := cores(mark.gw, endMark.gw, true, window)
				r.GatewayCores = &c
			} else {
				r.GatewayCPUError = errors.Join(mark.gwErr, endMark.gwErr).Error()
			}
		}
	}
	if l.cfg.DBPath != "" {
		after := dbSize(l.cfg.DBPath)
		r.DBPath = l.cfg.DBPath
		r.DBBytesBefore, r.DBBytesAfter = dbBefore, after
		if accepted := r.Accepted; accepted > 0 {
			r.DBBytesPerFrame = float64(after-dbBefore) / float64(accepted)
		}
	}
	return r, nil
}

// signingNote is the report's statement of how frames are signed.
const signingNote = "just in time: each batch is signed by its sender right before it is posted (ts = signing time), " +
	"so no frame waits signed; that CPU is this process's (load_cores, of which signing_cores)"

func cores(a, b time.Duration, ok bool, window time.Duration) float64 {
	if !ok || window <= 0 {
		return 0
	}
	return math.Round(float64(b-a)/float64(window)*1000) / 1000
}

// cpuMark is a CPU reading of this process and of the gateway.
type cpuMark struct {
	ok     bool
	self   time.Duration
	selfOK bool
	gw     time.Duration
	gwErr  error
}

func (l *Load) cpuNow() cpuMark {
	m := cpuMark{ok: true}
	m.self, m.selfOK = processCPU()
	if l.cfg.GatewayPID != 0 {
		m.gw, m.gwErr = pidCPU(l.cfg.GatewayPID)
	}
	return m
}

func dbSize(path string) int64 {
	if path == "" {
		return 0
	}
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// provision gives every vehicle its credentials (enrolling it if its cache
// has none), its frame counter and its HTTP/2 client.
func (l *Load) provision(ctx context.Context) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(l.cfg.Gateway.CAPEM) {
		return errors.New("sim: no fleet root in the gateway's CA PEM")
	}
	u, err := url.Parse(l.cfg.Gateway.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("sim: gateway URL %q: not https://host:port", l.cfg.Gateway.URL)
	}
	serverName := l.cfg.Gateway.ServerName
	if serverName == "" {
		serverName = u.Hostname()
	}
	l.vs = make([]*loadVehicle, len(l.ids))
	return forEachVehicle(ctx, len(l.ids), l.cfg.ProvisionWorkers, func(ctx context.Context, i int) error {
		id := l.ids[i]
		creds, err := provisionRetry(ctx, l.d.Provisioner, id, l.log)
		if err != nil {
			return err
		}
		signer, err := loadSigner(creds)
		if err != nil {
			return fmt.Errorf("sim: %s: %v", id, err)
		}
		counter, err := agent.OpenCounter(filepath.Join(l.cfg.StateDir, id), id, 0)
		if err != nil {
			return fmt.Errorf("sim: %s: %v", id, err)
		}
		cert := tls.Certificate{PrivateKey: creds.TLSKey, Leaf: creds.Chain[0]}
		for _, c := range creds.Chain {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		l.vs[i] = &loadVehicle{id: id, signer: signer, kid: creds.FrameKID, counter: counter, reused: creds.Reused,
			client: h2Client(roots, serverName, cert, l.d.DialContext),
			lat:    40 + float64(i%1000)*0.01, lon: -100 + float64(i/1000)*0.01}
		return nil
	})
}

// loadSigner is the frame signer for a vehicle's frame key (the
// simulator's trucks have Ed25519 keys, EnrollProvisioner).
func loadSigner(c Credentials) (frame.Signer, error) {
	s, err := frame.NewEd25519Signer(c.FrameKey)
	if err != nil {
		return nil, fmt.Errorf("the load generator signs with Ed25519 frame keys: %v", err)
	}
	return s, nil
}

// h2Client is one vehicle's HTTP client: TLS 1.3 with its certificate,
// HTTP/2 only, one connection.
func h2Client(roots *x509.CertPool, serverName string, cert tls.Certificate,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: serverName,
			Certificates: []tls.Certificate{cert}},
		Protocols:           &protos,
		DialContext:         dial,
		MaxConnsPerHost:     1,
		TLSHandshakeTimeout: loadRequestTimeout,
		Proxy:               nil,
	}
	return &http.Client{Transport: tr, Timeout: loadRequestTimeout}
}

// sender posts batches for its vehicles, round robin, until ctx ends.
func (l *Load) sender(ctx context.Context, vs []*loadVehicle) {
	for i := 0; ctx.Err() == nil; i = (i + 1) % len(vs) {
		v := vs[i]
		if len(vs) > 1 && time.Now().Before(v.notBefore) {
			// Another of this sender's vehicles may be free; wait only when
			// all of them are held back.
			earliest := v.notBefore
			for _, w := range vs {
				if w.notBefore.Before(earliest) {
					earliest = w.notBefore
				}
			}
			if time.Now().Before(earliest) && !sleepUntil(ctx, earliest) {
				return
			}
			continue
		}
		if !sleepUntil(ctx, v.notBefore) {
			return
		}
		l.post(ctx, v)
	}
}

// post signs and sends one batch of v and counts the outcome.
func (l *Load) post(ctx context.Context, v *loadVehicle) {
	body, n, err := v.batch(l.cfg.Batch)
	if err != nil {
		// The counter could not reserve numbers on disk: nothing was sent.
		l.log.Error("cannot sign a batch", slog.String("vehicle", v.id), slog.Any("err", err))
		l.st.signErrors.Add(1)
		sleepUntil(ctx, time.Now().Add(time.Second))
		return
	}
	l.st.signed(n)
	start := time.Now()
	// The request outlives ctx: a batch sent is answered and counted.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, l.cfg.Gateway.URL+agent.TelemetryPath, bytes.NewReader(body))
	if err != nil {
		l.st.failed(n, "bad_request")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		l.st.failed(n, transportReason(err))
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	done := time.Now()
	if err != nil {
		l.st.failed(n, transportReason(err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		l.st.failed(n, httpReason(resp.StatusCode, b))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			v.notBefore = done.Add(retryAfter(resp.Header.Get("Retry-After")))
		}
		return
	}
	var out batchAnswer
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != n {
		l.st.failed(n, "bad_response")
		return
	}
	var acc, dup int
	rejected := map[string]int{}
	for i, x := range out.Results {
		switch {
		case x.Index != i:
			rejected["bad_response"]++
		case x.Verdict == "accepted":
			acc++
			if x.Duplicate {
				dup++
			}
		case x.Verdict == "rejected":
			rejected[x.Code]++
		default:
			rejected["bad_response"]++
		}
	}
	l.st.answered(start, done, acc, dup, rejected)
	if l.cfg.ReplayEvery > 0 {
		l.replayAfter(ctx, v, out.Results)
	}
}

// replayAfter counts the frames of v's last batch the gateway accepted
// (duplicates aside: a fresh frame is never one) and, for every
// ReplayEvery of them, sends one replay of an accepted frame of that batch
// (the last ones first), in one POST.
func (l *Load) replayAfter(ctx context.Context, v *loadVehicle, results []batchResult) {
	var accepted []sentFrame
	for i, x := range results {
		if x.Index == i && x.Verdict == "accepted" && !x.Duplicate && i < len(v.sent) {
			accepted = append(accepted, v.sent[i])
		}
	}
	v.sinceReplay += len(accepted)
	k := v.sinceReplay / l.cfg.ReplayEvery
	if k == 0 {
		return
	}
	v.sinceReplay -= k * l.cfg.ReplayEvery
	// k <= len(accepted): the remainder carried over is below ReplayEvery.
	l.postReplays(ctx, v, accepted[len(accepted)-k:])
}

// postReplays signs a replay of each of fs (same vehicle, epoch, seq and
// ts; the odometer one metre on, so other bytes) and posts them as one
// batch; each must come back rejected replay.
func (l *Load) postReplays(ctx context.Context, v *loadVehicle, fs []sentFrame) {
	body := []byte(`{"frames":[`)
	for i, f := range fs {
		tel := v.telemetry(f.ts)
		tel.OdometerM++
		env, err := frame.Sign(v.signer, v.kid, &frame.Frame{VehicleID: v.id, Epoch: f.epoch, Seq: f.seq, TS: f.ts, Body: tel})
		if err != nil {
			l.log.Error("cannot sign a replay", slog.String("vehicle", v.id), slog.Any("err", err))
			return
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, env...)
	}
	body = append(body, `]}`...)
	n := len(fs)
	l.st.replaysSent.Add(int64(n))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, l.cfg.Gateway.URL+agent.TelemetryPath, bytes.NewReader(body))
	if err != nil {
		l.st.replayOther("bad_request", n)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		l.st.replayOther(transportReason(err), n)
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		l.st.replayOther(transportReason(err), n)
		return
	}
	if resp.StatusCode != http.StatusOK {
		l.st.replayOther(httpReason(resp.StatusCode, b), n)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			v.notBefore = time.Now().Add(retryAfter(resp.Header.Get("Retry-After")))
		}
		return
	}
	var out batchAnswer
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != n {
		l.st.replayOther("bad_response", n)
		return
	}
	for i, x := range out.Results {
		switch {
		case x.Index != i:
			l.st.replayOther("bad_response", 1)
		case x.Verdict == "rejected" && x.Code == codes.Replay:
			l.st.replaysRefused.Add(1)
		case x.Verdict == "rejected":
			l.st.replayOther("rejected "+x.Code, 1)
		default:
			l.st.replayOther(x.Verdict, 1) // "accepted": the gateway took a replay
		}
	}
}

// batchAnswer is the batch path's answer: one result per frame, in order.
type batchAnswer struct {
	Results []batchResult `json:"results"`
}

type batchResult struct {
	Index     int    `json:"index"`
	Verdict   string `json:"verdict"`
	Code      string `json:"code"`
	Duplicate bool   `json:"duplicate"`
}

// batch signs the vehicle's next n telemetry frames (ts now, fresh seqs)
// and returns the body {"frames":[...]}.
func (v *loadVehicle) batch(n int) ([]byte, int, error) {
	ts := time.Now().UTC().Truncate(time.Millisecond)
	body := make([]byte, 0, n*700+16)
	body = append(body, `{"frames":[`...)
	v.sent = v.sent[:0]
	for i := range n {
		epoch, seq, err := v.counter.Next()
		if err != nil {
			return nil, 0, err
		}
		v.sent = append(v.sent, sentFrame{epoch: epoch, seq: seq, ts: ts})
		env, err := frame.Sign(v.signer, v.kid, &frame.Frame{VehicleID: v.id, Epoch: epoch, Seq: seq, TS: ts,
			Body: v.telemetry(ts)})
		if err != nil {
			return nil, 0, err
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, env...)
	}
	return append(body, `]}`...), n, nil
}

// loadSpeed is the load vehicles' speed, m/s: they drive north at a
// steady 25 m/s, so consecutive frames are plausible (no jump, GNSS and
// wheel speed agree) and the gateway stores them without findings.
const loadSpeed = 25.0

// telemetry is a frame body of the size and shape a truck sends: the
// position follows the frame time at loadSpeed.
func (v *loadVehicle) telemetry(ts time.Time) *frame.Telemetry {
	dist := loadSpeed * float64(ts.UnixMilli()%(3600*1000)) / 1000 // at most 90 km, then back to the start
	return &frame.Telemetry{
		GNSS: frame.GNSS{Lat: v.lat + dist/111_320, Lon: v.lon, SpeedMPS: loadSpeed, HeadingDeg: 0,
			Fix: frame.Fix3D, HDOP: 0.8},
		WheelSpeedMPS: loadSpeed,
		OdometerM:     1_000_000 + dist,
		State:         frame.StateDriving,
		Health:        frame.Health{CPUTempC: 55.5, BatteryV: 27.6, Faults: []string{}},
	}
}

// transportReason names a request that got no HTTP answer, from a small
// fixed set (the report's keys stay bounded).
func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "error: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "error: connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "error: connection reset"
	}
	var te *tls.AlertError
	var ce *tls.CertificateVerificationError
	if errors.As(err, &te) || errors.As(err, &ce) {
		return "error: tls"
	}
	return "error: transport"
}

// httpReason names a non-200 answer: its status and, from a problem+json
// body, its reason code.
func httpReason(status int, body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	reason := fmt.Sprintf("http %d", status)
	if json.Unmarshal(body, &p) == nil && p.Code != "" && len(p.Code) <= 64 {
		reason += " " + p.Code
	}
	return reason
}

// retryAfter reads a Retry-After in seconds (the gateway's form), 1 s when
// absent or unreadable, at most maxRetryAfter.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || s < 1 {
		return time.Second
	}
	return min(time.Duration(s)*time.Second, maxRetryAfter)
}

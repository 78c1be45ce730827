package drill

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// stallDrill: from a host without a certificate (Target.AttackSource),
// open tls.max_pending_handshakes_per_source + stallExcess TCP connections
// to the vehicle listener and send nothing on them. The gateway must
// refuse the excess on accept (each socket reset at once) and record it
// (admission_source_limit from that source), while a live drill truck's
// heartbeats keep being acked and a fresh vehicle from another source
// completes its mutual-TLS handshake and a request within
// HandshakeStallSLA.
func stallDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.MaxPendingHandshakesPerSource <= 0 {
		return errors.New("the target gives no tls.max_pending_handshakes_per_source")
	}
	src, err := t.attackSource()
	if err != nil {
		return err
	}
	fresh, err := enroll(ctx, t, "stall-fresh")
	if err != nil {
		return err
	}
	defer fresh.close()
	tr, mark, err := liveTruck(ctx, t, p, "stall", src)
	if err != nil {
		return err
	}
	defer tr.stop()

	// The attack: silent sockets, more than one source may stall.
	attack := time.Now()
	n := t.MaxPendingHandshakesPerSource + stallExcess
	socks, reset, err := openSilent(ctx, t, src, n)
	defer func() {
		for _, c := range socks {
			_ = c.Close()
		}
	}()
	if err != nil {
		return err
	}
	refused := reset + countReset(socks, stallRefusedWithin)
	p.Check(fmt.Sprintf("silent sockets the gateway refused on accept, of %d from %s (its limit %d per source)", n, src, t.MaxPendingHandshakesPerSource),
		fmt.Sprintf("at least %d", stallExcess), atLeast(refused, stallExcess))

	// Meanwhile a fresh vehicle gets in, every time.
	cert := fresh.tlsCertificate()
	roots, err := t.roots()
	if err != nil {
		return err
	}
	var worst time.Duration
	admitted := 0
	for range stallVehicleTries {
		began := time.Now()
		_, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		worst = max(worst, time.Since(began))
		if herr == nil {
			admitted++
		}
	}
	p.Check("a fresh vehicle's mutual-TLS handshakes during the stall", fmt.Sprintf("%d of %d admitted", stallVehicleTries, stallVehicleTries),
		fmt.Sprintf("%d of %d admitted", admitted, stallVehicleTries))
	p.Timing("fresh vehicle: mutual-TLS handshake and a request during the stall (slowest)", worst, HandshakeStallSLA)

	// Hold the stall over heartbeats of the truck.
	if err := sleep(ctx, time.Until(attack.Add(2*t.HeartbeatInterval))); err != nil {
		return err
	}
	tr.supervised(p, attack, "during the stall")

	// The refusal is recorded, about the attacking source (on its own, or
	// in a summary if an earlier run used up the window's first events).
	wait := p.eventWait + t.AggregateWindow + aggregateTick
	return awaitSourceEvent(ctx, t, p, codes.AdmissionSourceLimit, src, mark, wait)
}

// floodDrill: from a host without a certificate, for floodFor, as fast as
// a few workers can: TLS handshakes with a self-signed certificate naming
// a vehicle, and requests without a certificate on the vehicle listener.
// Every request must be refused (403, or 429 once the source's rate is
// spent); the gateway must record what it saw aggregated: at most
// floodEventBound events about that source, at least one a summary whose
// count shows the flood, the refusals they stand for adding up to at least
// the 403s the attacker was answered; and a live drill truck misses no
// heartbeat ack meanwhile.
func floodDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.AggregateWindow <= 0 {
		return errors.New("the target gives no events.aggregate_window")
	}
	src, err := t.attackSource()
	if err != nil {
		return err
	}
	tr, mark, err := liveTruck(ctx, t, p, "flood", src)
	if err != nil {
		return err
	}
	defer tr.stop()

	began := time.Now()
	f, err := flood(ctx, t, src)
	if err != nil {
		return err
	}
	statuses := f.statuses()
	p.Check(fmt.Sprintf("the flood reached the gateway (%d forged handshakes, %d requests answered, %d unanswered)",
		f.handshakes.Load(), f.answered(), f.unanswered.Load()), "yes", f.reached())
	p.Check("answers to requests without a certificate", "only 403 or 429", onlyRefused(statuses))
	// A missed heartbeat would be declared within one interval more.
	if err := sleep(ctx, t.HeartbeatInterval); err != nil {
		return err
	}
	tr.supervised(p, began, "during the flood")

	// Every window the flood opened has closed and been summarized by
	// then.
	if err := sleep(ctx, time.Until(began.Add(floodFor+t.AggregateWindow+aggregateTick+p.eventWait))); err != nil {
		return err
	}
	rows, err := eventsFrom(ctx, t, src, mark)
	if err != nil {
		return err
	}
	bound := floodEventBound(t.AggregateWindow)
	p.Check(fmt.Sprintf("events about %s the gateway recorded for the flood (%d)", src, len(rows)),
		fmt.Sprintf("at most %d", bound), atMost(len(rows), bound))
	summarized, stand := 0, map[string]int{}
	for _, r := range rows {
		count, agg := aggregatedCount(r)
		if agg {
			stand[r.Code] += count
			if count > 0 {
				summarized += count
				p.Event(r)
			}
		} else {
			stand[r.Code]++
		}
	}
	p.Check("events the aggregated summaries stand for", "at least 1", atLeast(summarized, 1))
	p.Check(fmt.Sprintf("%s refusals the events stand for, against the %d 403 answers", codes.ClientCertificateRequired, statuses[http.StatusForbidden]),
		fmt.Sprintf("at least %d", statuses[http.StatusForbidden]), atLeast(stand[codes.ClientCertificateRequired], statuses[http.StatusForbidden]))
	p.Check("forged handshakes the events record", "at least 1", atLeast(stand[codes.TLSUnknownAuthority], 1))
	return nil
}

// floodEventBound is the most events a flood of floodFor from one source
// may leave with aggregation windows of w: per kind and window, the
// events recorded one by one and one summary; the flood spans at most
// floodFor/w + 2 windows of a kind (2 with the default 10 s).
func floodEventBound(w time.Duration) int {
	windows := int(floodFor/w) + 2
	return floodEventKinds * (event.AggregateIndividually + 1) * windows
}

// liveTruck starts a drill truck for a drill attacking from src, checks
// that it does not connect from src (the attack would count against the
// truck's own source), and returns it with the store's sequence number
// before the attack.
func liveTruck(ctx context.Context, t *Target, p *Probe, drill string, src netip.Addr) (*truck, int64, error) {
	v, err := enroll(ctx, t, drill)
	if err != nil {
		return nil, 0, err
	}
	defer v.close()
	link := &silentLink{}
	tr, err := startTruck(ctx, t, v, link)
	if err != nil {
		return nil, 0, err
	}
	p.Timing("truck: connected and resumed by the gateway", tr.resumedAfter, 0)
	if from := link.localIP(); from == src {
		tr.stop()
		return nil, 0, fmt.Errorf("the drill truck connects from %s, the attack's source: give another attack source", src)
	}
	// The truck's latest event marks where the attack's events begin.
	rows, err := eventsAbout(ctx, t, codes.SessionResumeSent, v.subject(), 0)
	if err == nil && len(rows) == 0 {
		var row store.EventRow
		if row, err = waitEvent(ctx, t, codes.SessionResumeSent, v.subject(), p.eventWait); err == nil && row.Seq > 0 {
			rows = append(rows, row)
		}
	}
	if err != nil {
		tr.stop()
		return nil, 0, err
	}
	if len(rows) == 0 {
		tr.stop()
		return nil, 0, errors.New("the gateway recorded no resume for the drill truck: no mark to read the attack's events from")
	}
	return tr, rows[len(rows)-1].Seq, nil
}

// attackSource is the local address the attacks without a certificate
// dial from: Target.AttackSource, or loopbackAttackSource against a
// loopback gateway.
func (t *Target) attackSource() (netip.Addr, error) {
	if t.AttackSource != "" {
		a, err := netip.ParseAddr(t.AttackSource)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("the attack source %q is not an IP address", t.AttackSource)
		}
		return a, nil
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return netip.Addr{}, err
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.Is4() && a.IsLoopback() {
		return netip.MustParseAddr(loopbackAttackSource), nil
	}
	return netip.Addr{}, fmt.Errorf("the gateway at %s is not on IPv4 loopback: the attack needs a second local address, another source than the drill trucks' (the attack source)", u.Host)
}

// localIP is the local address of the link's first connection.
func (l *silentLink) localIP() netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(l.conns[0].LocalAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// attackDialer dials from src.
func attackDialer(src netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: requestTimeout}
}

// openSilent opens n TCP connections to the vehicle listener from src and
// sends nothing. It returns those whose connect completed, and how many
// were reset before it did.
func openSilent(ctx context.Context, t *Target, src netip.Addr, n int) ([]net.Conn, int, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, 0, err
	}
	d := attackDialer(src)
	var (
		mu      sync.Mutex
		socks   []net.Conn
		reset   int
		dialErr error
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	for range stallDialers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				c, err := d.DialContext(ctx, "tcp", u.Host)
				mu.Lock()
				switch {
				case isReset(err):
					reset++
				case err != nil:
					if dialErr == nil {
						dialErr = fmt.Errorf("open the silent sockets from %s: %w", src, err)
					}
					mu.Unlock()
					return
				default:
					socks = append(socks, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return socks, reset, dialErr
}

// countReset reads every socket for up to within and counts those the
// gateway closed or reset.
func countReset(socks []net.Conn, within time.Duration) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(within)
	for _, c := range socks {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// floodResult is what the flood did.
type floodResult struct {
	handshakes atomic.Int64
	unanswered atomic.Int64
	mu         sync.Mutex
	status     map[int]int
	dialErr    error // the first dial that failed, if any
}

func (f *floodResult) dialFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dialErr == nil {
		f.dialErr = err
	}
}

// reached says whether the flood got through, and if not, why.
func (f *floodResult) reached() string {
	if f.handshakes.Load() > 0 && f.answered() > 0 {
		return "yes"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dialErr != nil {
		return "no: " + f.dialErr.Error()
	}
	return "no"
}

func (f *floodResult) statuses() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.status)
}

func (f *floodResult) answered() (n int) {
	for _, c := range f.statuses() {
		n += c
	}
	return n
}

// flood runs the attack from src for floodFor; everything it started has
// stopped when it returns.
func flood(ctx context.Context, t *Target, src netip.Addr) (*floodResult, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	roots, err := t.roots()
	if err != nil {
		return nil, err
	}
	forged, err := forgedVehicleCert(t.Prefix)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, floodFor)
	defer cancel()
	d := attackDialer(src)
	res := &floodResult{status: map[int]int{}}
	h2 := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: u.Hostname()},
		ForceAttemptHTTP2: true, MaxConnsPerHost: 1}}
	defer h2.CloseIdleConnections()

	var wg sync.WaitGroup
	for range floodHandshakers {
		wg.Go(func() {
			cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: u.Hostname(),
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged, nil }}
			for fctx.Err() == nil {
				raw, err := d.DialContext(fctx, "tcp", u.Host)
				if err != nil {
					res.dialFailed(err)
					_ = sleep(fctx, eventPoll) // no busy loop on a source that cannot dial
					continue
				}
				c := tls.Client(raw, cfg)
				_ = c.SetDeadline(time.Now().Add(requestTimeout))
				if c.HandshakeContext(fctx) == nil {
					res.handshakes.Add(1)
					// TLS 1.3: the refusal comes after the client's
					// handshake; read it so the gateway has judged ours.
					_, _ = c.Read(make([]byte, 1))
				}
				_ = c.Close()
			}
		})
	}
	for range floodRequesters {
		wg.Go(func() {
			for fctx.Err() == nil {
				req, err := http.NewRequestWithContext(fctx, http.MethodPost, t.URL+agent.TelemetryPath,
					strings.NewReader(`{"frames":[]}`))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := h2.Do(req)
				if err != nil {
					res.unanswered.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				resp.Body.Close()
				res.mu.Lock()
				res.status[resp.StatusCode]++
				res.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res, nil
}

// forgedVehicleCert is a self-signed certificate naming a vehicle.
func forgedVehicleCert(prefix string) (tls.Certificate, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return tls.Certificate{}, err
	}
	id := prefix + "-flood-" + hex.EncodeToString(b[:])
	u, err := url.Parse(principal.Principal{Kind: principal.Vehicle, ID: id}.String())
	if err != nil {
		return tls.Certificate{}, err
	}
	return selfSigned(&x509.Certificate{Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// onlyRefused is "only 403 or 429" if every status is one of them, else
// the statuses seen.
func onlyRefused(statuses map[int]int) string {
	var other []string
	for s, n := range statuses {
		if s != http.StatusForbidden && s != http.StatusTooManyRequests {
			other = append(other, fmt.Sprintf("%d×%d", n, s))
		}
	}
	if len(other) == 0 {
		return "only 403 or 429"
	}
	slices.Sort(other)
	return "also " + strings.Join(other, ", ")
}

// eventsFrom returns the events after seq about peers from src (their
// source attribute).
func eventsFrom(ctx context.Context, t *Target, src netip.Addr, after int64) ([]store.EventRow, error) {
	want := event.SourceOf(src.String())
	var out []store.EventRow
	for {
		rows, err := t.Events.ListEvents(ctx, store.EventFilter{AfterSeq: after, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("read the gateway's events: %w", err)
		}
		if len(rows) == 0 {
			return out, nil
		}
		for _, r := range rows {
			if eventSource(r) == want {
				out = append(out, r)
			}
		}
		after = rows[len(rows)-1].Seq
	}
}

// awaitSourceEvent waits up to wait for an event with code about a peer
// from src after seq, records it and checks it was found.
func awaitSourceEvent(ctx context.Context, t *Target, p *Probe, code string, src netip.Addr, after int64, wait time.Duration) error {
	want := code + " from " + event.SourceOf(src.String())
	deadline := time.Now().Add(wait)
	for {
		rows, err := eventsAbout(ctx, t, code, "", after)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if eventSource(r) == event.SourceOf(src.String()) {
				p.Event(r)
				p.Check("security event in the gateway's store", want, r.Code+" from "+eventSource(r))
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.Check("security event in the gateway's store", want, "none")
			return nil
		}
		if err := sleep(ctx, eventPoll); err != nil {
			return err
		}
	}
}

// eventSource is the source an event about an unauthenticated peer names.
func eventSource(r store.EventRow) string {
	var body struct {
		Source string `json:"source"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return ""
	}
	return body.Source
}

// aggregatedCount is an aggregated summary's count, and whether r is one.
func aggregatedCount(r store.EventRow) (int, bool) {
	var body struct {
		Attrs struct {
			Aggregated bool `json:"aggregated"`
			Count      int  `json:"count"`
		} `json:"attrs"`
	}
	if json.Unmarshal(r.Body, &body) != nil || !body.Attrs.Aggregated {
		return 0, false
	}
	return body.Attrs.Count, true
}

// atLeast is "at least lo" if n is, else n.
func atLeast(n, lo int) string {
	if n >= lo {
		return fmt.Sprintf("at least %d", lo)
	}
	return fmt.Sprint(n)
}

// atMost is "at most hi" if n is, else n.
func atMost(n, hi int) string {
	if n <= hi {
		return fmt.Sprintf("at most %d", hi)
	}
	return fmt.Sprint(n)
}

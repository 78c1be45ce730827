package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The TMS access drills (issue 19) attack the TMS listener: a drill TMS
// client of a drill carrier gets a certificate-bound access token
// (RFC 8705) at the token endpoint with its certificate, and the attacks
// use that token as an attacker would who stole it, or a client reaches
// for another carrier's vehicle. Drill clients, carriers and vehicles are
// registry entries named PREFIX-<drill>-<random>; every drill client's
// certificates are revoked when its drill ends.

// drillRole is the role drill clients hold: it grants reading the
// carrier's vehicle state and telemetry (authz.RoleScopes).
const drillRole = string(authz.Planner)

// tmsListener is how the gateway's events name the TMS listener (their
// "listener" attribute).
const tmsListener = "tms"

// tmsClient is a drill TMS client: registered with its carrier and role,
// holding its certificate and a mutual-TLS HTTP client that keeps its
// connection (as a TMS does).
type tmsClient struct {
	id   string
	cert tls.Certificate
	hc   *http.Client
}

// subject is how the gateway's events name the client.
func (c *tmsClient) subject() string {
	return principal.Principal{Kind: principal.Client, ID: c.id}.String()
}

// tmsAnswer is what the TMS listener answered to one request.
type tmsAnswer struct {
	status  int
	code    string // the problem's code, "" if none
	wwwAuth string
	body    []byte
}

// String is "STATUS CODE" (or the status alone).
func (a tmsAnswer) String() string {
	if a.code == "" {
		return fmt.Sprint(a.status)
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

// answer is tmsAnswer.String of an answer of status with code.
func answer(status int, code string) string {
	return tmsAnswer{status: status, code: code}.String()
}

// needTMS reports what the target lacks for the TMS access drills.
func (t *Target) needTMS() error {
	switch {
	case t.TMSURL == "":
		return errors.New("the target gives no TMS listener")
	case t.RegisterClient == nil:
		return errors.New("the target cannot register a TMS client")
	case t.RegisterVehicle == nil:
		return errors.New("the target cannot register a vehicle")
	case t.RevokeClient == nil:
		return errors.New("the target cannot revoke a TMS client")
	}
	return nil
}

// drillID is PREFIX-<what>-<random hex>: unique across runs against one
// gateway.
func drillID(t *Target, what string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%s-%s", t.Prefix, what, hex.EncodeToString(b[:])), nil
}

// tmsHTTP is an HTTP client for the TMS listener presenting cert (none if
// nil) whatever CAs the listener names, as an attacker's would.
func (t *Target) tmsHTTP(cert *tls.Certificate) (*http.Client, error) {
	roots, err := t.roots()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if cert != nil {
		c := *cert
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, Proxy: nil}}, nil
}

// newTMSClient registers a drill client of carrier with drillRole and
// issues its certificate.
func newTMSClient(ctx context.Context, t *Target, what, carrier string) (*tmsClient, error) {
	return newTMSClientWith(ctx, t, what, carrier, []string{drillRole})
}

// newTMSClientWith registers a drill client of carrier with roles and
// issues its certificate.
func newTMSClientWith(ctx context.Context, t *Target, what, carrier string, roles []string) (*tmsClient, error) {
	id, err := drillID(t, what)
	if err != nil {
		return nil, err
	}
	cert, err := t.RegisterClient(ctx, id, carrier, roles)
	if err != nil {
		return nil, fmt.Errorf("register the drill TMS client: %w", err)
	}
	hc, err := t.tmsHTTP(&cert)
	if err != nil {
		return nil, err
	}
	return &tmsClient{id: id, cert: cert, hc: hc}, nil
}

func (c *tmsClient) close() { c.hc.CloseIdleConnections() }

// token gets an access token at the token endpoint with c's certificate
// (tls_client_auth, RFC 8705 §2.1); the drill's set-up, checked.
func (c *tmsClient) token(ctx context.Context, t *Target, p *Probe) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.TMSURL+authz.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("the token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxTMSBody))
	_ = json.Unmarshal(body, &tok) // a body that does not decode leaves no token: refused below
	got := fmt.Sprintf("%d %s", resp.StatusCode, tok.TokenType)
	if !p.Check("set-up: the drill client's token from "+authz.TokenPath, "200 Bearer", got) || tok.AccessToken == "" {
		return "", fmt.Errorf("the token endpoint gave the drill client no token: %d %.200s", resp.StatusCode, body)
	}
	return tok.AccessToken, nil
}

// get sends GET path on the TMS listener with hc and, if not empty, the
// bearer token. It returns the answer and the local address it was sent
// from; a connection the listener refused is an error (see refusedConn).
func (t *Target) get(ctx context.Context, hc *http.Client, path, token string) (tmsAnswer, string, error) {
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, t.TMSURL+path, nil)
	if err != nil {
		return tmsAnswer{}, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return tmsAnswer{}, local, err
	}
	defer resp.Body.Close()
	a := tmsAnswer{status: resp.StatusCode, wwwAuth: resp.Header.Get("WWW-Authenticate")}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxTMSBody))
	if err != nil {
		return a, local, err
	}
	var pb struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(a.body, &pb) == nil {
		a.code = pb.Code
	}
	return a, local, nil
}

// refusedConn reports whether err is the listener refusing the
// connection with a TLS alert (crypto/tls reports a received alert as a
// "remote error"; in TLS 1.3 the server's verdict on the client's
// certificate arrives after the client's handshake completed, so it ends
// the request), not a failure on the drill's side.
func refusedConn(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// closedConn reports whether err is the listener closing a connection it
// had admitted, under the request: what the gateway does to the
// connections of a certificate the moment it is revoked.
func closedConn(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// vehiclePath is the state route of vehicle id.
func vehiclePath(id string) string { return "/v1/vehicles/" + id + "/state" }

// stolenTokenWithoutCertificateDrill: a drill TMS client's valid token,
// sent by an attacker from a connection without a client certificate, is
// refused 403 client_certificate_required, and the refusal is recorded
// (aggregated per source: an event or a window's summary about the
// attacker's source on the TMS listener). The owner, with its
// certificate, reads with the same token.
func stolenTokenWithoutCertificateDrill(ctx context.Context, t *Target, p *Probe) error {
	if err := t.needTMS(); err != nil {
		return err
	}
	carrier, err := drillID(t, "carrier-stolen")
	if err != nil {
		return err
	}
	veh, err := drillID(t, "tms-stolen")
	if err != nil {
		return err
	}
	if err := t.RegisterVehicle(ctx, veh, carrier); err != nil {
		return fmt.Errorf("register the drill vehicle: %w", err)
	}
	owner, err := newTMSClient(ctx, t, "tms-stolen", carrier)
	if err != nil {
		return err
	}
	defer owner.close()
	defer revokeClientAfter(ctx, t, p, owner.id, "the owner client")
	tok, err := owner.token(ctx, t, p)
	if err != nil {
		return err
	}
	a, _, err := t.get(ctx, owner.hc, vehiclePath(veh), tok)
	if err != nil {
		return err
	}
	p.Check("positive control: the owner, with its certificate, reads its carrier's vehicle", "200", a.String())

	mark, err := lastSeq(ctx, t, codes.ClientCertificateRequired)
	if err != nil {
		return err
	}
	thief, err := t.tmsHTTP(nil)
	if err != nil {
		return err
	}
	defer thief.CloseIdleConnections()
	a, local, err := t.get(ctx, thief, vehiclePath(veh), tok)
	if err != nil {
		return fmt.Errorf("the request without a certificate: %w", err)
	}
	p.Check("the owner's token from a connection without a client certificate", answer(http.StatusForbidden, codes.ClientCertificateRequired), a.String())
	ap, err := netip.ParseAddrPort(local)
	if err != nil {
		return fmt.Errorf("the attacker's local address %q: %w", local, err)
	}
	src := event.SourceOf(ap.Addr().String())
	// A source that already had its individual events in the current
	// window gets a summary when the window closes.
	wait := p.eventWait + t.AggregateWindow
	return awaitMatch(ctx, t, p, codes.ClientCertificateRequired, "", mark, wait, codes.ClientCertificateRequired+" from "+src+" on listener "+tmsListener,
		func(r store.EventRow) (string, bool) {
			got := r.Code + " from " + eventSource(r) + " on listener " + eventAttr(r, "listener")
			return got, eventSource(r) == src && eventAttr(r, "listener") == tmsListener
		})
}

// tokenBoundToAnotherCertificateDrill: an attacker holding its own valid
// client certificate of the victim's carrier replays the victim's token:
// refused 401 access_token_invalid with `WWW-Authenticate: Bearer
// error="invalid_token"` and a generic body, the event
// access_token_binding_mismatch naming the attacker's principal. The
// victim reads with its token and certificate.
func tokenBoundToAnotherCertificateDrill(ctx context.Context, t *Target, p *Probe) error {
	if err := t.needTMS(); err != nil {
		return err
	}
	carrier, err := drillID(t, "carrier-binding")
	if err != nil {
		return err
	}
	veh, err := drillID(t, "tms-binding")
	if err != nil {
		return err
	}
	if err := t.RegisterVehicle(ctx, veh, carrier); err != nil {
		return fmt.Errorf("register the drill vehicle: %w", err)
	}
	victim, err := newTMSClient(ctx, t, "tms-binding-victim", carrier)
	if err != nil {
		return err
	}
	defer victim.close()
	defer revokeClientAfter(ctx, t, p, victim.id, "the victim client")
	attacker, err := newTMSClient(ctx, t, "tms-binding", carrier)
	if err != nil {
		return err
	}
	defer attacker.close()
	defer revokeClientAfter(ctx, t, p, attacker.id, "the attacker client")
	tok, err := victim.token(ctx, t, p)
	if err != nil {
		return err
	}
	a, _, err := t.get(ctx, victim.hc, vehiclePath(veh), tok)
	if err != nil {
		return err
	}
	p.Check("positive control: the victim reads with its token and certificate", "200", a.String())

	a, _, err = t.get(ctx, attacker.hc, vehiclePath(veh), tok)
	if err != nil {
		return fmt.Errorf("the replay: %w", err)
	}
	p.Check("the victim's token over the attacker's certificate (same carrier)", answer(http.StatusUnauthorized, codes.AccessTokenInvalid), a.String())
	p.Check("WWW-Authenticate (RFC 6750 §3.1)", `Bearer error="invalid_token"`, a.wwwAuth)
	p.Check("the answer names no check", "generic", map[bool]string{true: "names " + codes.AccessTokenBindingMismatch,
		false: "generic"}[bytes.Contains(a.body, []byte(codes.AccessTokenBindingMismatch)) || bytes.Contains(a.body, []byte("cnf"))])
	return awaitEvent(ctx, t, p, codes.AccessTokenBindingMismatch, attacker.subject(), nil)
}

// revokedClientLiveTokenDrill: a drill client with an unexpired token is
// revoked (its certificates, key compromise) while it holds a live
// connection. Within RevocationSLA of the revocation every request with
// the token is refused: on the connection opened before it (401) and on
// a new one (its handshake refused, or 401). The refusal is recorded:
// tls_cert_revoked or access_token_principal_inactive about the client.
func revokedClientLiveTokenDrill(ctx context.Context, t *Target, p *Probe) error {
	if err := t.needTMS(); err != nil {
		return err
	}
	carrier, err := drillID(t, "carrier-revoked")
	if err != nil {
		return err
	}
	veh, err := drillID(t, "tms-revoked")
	if err != nil {
		return err
	}
	if err := t.RegisterVehicle(ctx, veh, carrier); err != nil {
		return fmt.Errorf("register the drill vehicle: %w", err)
	}
	c, err := newTMSClient(ctx, t, "tms-revoked", carrier)
	if err != nil {
		return err
	}
	defer c.close()
	tok, err := c.token(ctx, t, p)
	if err != nil {
		return err
	}
	a, _, err := t.get(ctx, c.hc, vehiclePath(veh), tok)
	if err != nil {
		return err
	}
	if !p.Check("positive control: the client reads before its revocation", "200", a.String()) {
		return nil
	}

	start := time.Now()
	if err := t.RevokeClient(ctx, c.id); err != nil {
		return fmt.Errorf("revoke the drill client: %w", err)
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	// The live connection, opened before the revocation, until refused.
	// When the gateway has closed it, the client redials: an HTTP/2
	// client may report the refused handshake without its alert ("client
	// conn could not be established", TLS 1.3 sends the alert after the
	// client's side completed), so any other error is judged by probing a
	// handshake with the same certificate on its own.
	outcome, how := "", ""
	for outcome == "" {
		a, _, err := t.get(ctx, c.hc, vehiclePath(veh), tok)
		switch {
		case err != nil && refusedConn(err):
			outcome, how = "refused", "its new handshake refused"
		case err != nil && closedConn(err):
			outcome, how = "refused", "the connection closed by the gateway"
		case err != nil:
			if _, herr := handshakeWith(ctx, t.TMSURL, certConfig(roots, c.cert)); !refusedConn(herr) {
				return fmt.Errorf("the token after the revocation: %w (a handshake with the certificate on its own: %v)", err, herr)
			}
			outcome, how = "refused", "its new handshake refused"
		case a.status == http.StatusUnauthorized:
			outcome, how = "refused", "401 "+a.code
		case time.Since(start) > revokeMeasureLimit:
			outcome = "admitted: " + a.String()
		default:
			if err := sleep(ctx, racePoll); err != nil {
				return err
			}
		}
	}
	if outcome == "refused" {
		p.Timing("token refused after the revocation ("+how+")", time.Since(start), RevocationSLA)
	}
	if !p.Check(fmt.Sprintf("the token after the revocation, on the client's keep-alive connection (redialled if the gateway closed it), within %s", revokeMeasureLimit), "refused", outcome) {
		return nil
	}
	// A new connection with the revoked certificate and the token. The
	// handshake is probed on its own first: in TLS 1.3 the gateway's alert
	// arrives after the client's side of the handshake completed, which
	// an HTTP/2 client may report without the alert ("client conn could
	// not be established"); only an alert or a 401 is a refusal here, a
	// new connection the gateway admitted must not be cut off unanswered.
	got := "refused"
	if _, herr := handshakeWith(ctx, t.TMSURL, certConfig(roots, c.cert)); !refusedConn(herr) {
		fresh, err := t.tmsHTTP(&c.cert)
		if err != nil {
			return err
		}
		defer fresh.CloseIdleConnections()
		if a, _, err := t.get(ctx, fresh, vehiclePath(veh), tok); err == nil && a.status != http.StatusUnauthorized {
			got = "admitted: " + a.String()
		} else if err != nil && !refusedConn(err) {
			return fmt.Errorf("the token on a new connection: %w", err)
		}
	}
	p.Check("the token on a new connection with the revoked certificate: its handshake refused, or 401", "refused", got)
	return awaitMatch(ctx, t, p, "", c.subject(), 0, p.eventWait,
		codes.TLSCertRevoked+" or "+codes.AccessTokenPrincipalInactive+" about "+c.subject(),
		func(r store.EventRow) (string, bool) {
			return codes.TLSCertRevoked + " or " + codes.AccessTokenPrincipalInactive + " about " + r.Subject,
				r.Code == codes.TLSCertRevoked || r.Code == codes.AccessTokenPrincipalInactive
		})
}

// crossCarrierReadDrill: a drill client of carrier A reads the state and
// latest telemetry of a vehicle of carrier B: 404, the same answer
// (modulo the per-request instance) as for an id no vehicle has, and the
// event access_other_carrier about B's vehicle. Its own carrier's vehicle
// answers 200.
func crossCarrierReadDrill(ctx context.Context, t *Target, p *Probe) error {
	if err := t.needTMS(); err != nil {
		return err
	}
	carrierA, err := drillID(t, "carrier-a")
	if err != nil {
		return err
	}
	carrierB, err := drillID(t, "carrier-b")
	if err != nil {
		return err
	}
	own, err := drillID(t, "tms-cross-own")
	if err != nil {
		return err
	}
	other, err := drillID(t, "tms-cross-other")
	if err != nil {
		return err
	}
	unknown, err := drillID(t, "tms-cross-unknown")
	if err != nil {
		return err
	}
	for id, carrier := range map[string]string{own: carrierA, other: carrierB} {
		if err := t.RegisterVehicle(ctx, id, carrier); err != nil {
			return fmt.Errorf("register the drill vehicle: %w", err)
		}
	}
	c, err := newTMSClient(ctx, t, "tms-cross", carrierA)
	if err != nil {
		return err
	}
	defer c.close()
	defer revokeClientAfter(ctx, t, p, c.id, "the drill client")
	tok, err := c.token(ctx, t, p)
	if err != nil {
		return err
	}
	a, _, err := t.get(ctx, c.hc, vehiclePath(own), tok)
	if err != nil {
		return err
	}
	p.Check("positive control: its own carrier's vehicle", "200", a.String())

	for _, route := range []string{"/state", "/telemetry/latest"} {
		theirs, _, err := t.get(ctx, c.hc, "/v1/vehicles/"+other+route, tok)
		if err != nil {
			return err
		}
		none, _, err := t.get(ctx, c.hc, "/v1/vehicles/"+unknown+route, tok)
		if err != nil {
			return err
		}
		p.Check("another carrier's vehicle, "+route, answer(http.StatusNotFound, codes.NotFound), theirs.String())
		p.Check("another carrier's vehicle and an unknown id, "+route+": the same answer", "identical",
			map[bool]string{true: "identical", false: fmt.Sprintf("%s vs %s", sameForm(theirs.body), sameForm(none.body))}[theirs.status == none.status &&
				sameForm(theirs.body) == sameForm(none.body)])
	}
	return awaitEvent(ctx, t, p, codes.AccessOtherCarrier, principal.Principal{Kind: principal.Vehicle, ID: other}.String(), nil)
}

// sameForm is a problem body without its per-request member (instance,
// the request's path), for comparing two answers.
func sameForm(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return string(body)
	}
	delete(m, "instance")
	out, _ := json.Marshal(m)
	return string(out)
}

// revokeClientAfter revokes a drill client when its drill ends, so that no
// certificate it was issued stays usable, and records it as a check.
func revokeClientAfter(ctx context.Context, t *Target, p *Probe, id, who string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	got := "revoked"
	if err := t.RevokeClient(rctx, id); err != nil {
		got = "not revoked: " + err.Error()
	}
	p.Check("clean-up: "+who+" revoked", "revoked", got)
}

// lastSeq is the sequence number of the last event with code in the
// store (0 if none): the mark after which a drill's own events are.
func lastSeq(ctx context.Context, t *Target, code string) (int64, error) {
	var after int64
	for {
		rows, err := t.Events.ListEvents(ctx, store.EventFilter{AfterSeq: after, Code: code, Limit: 500})
		if err != nil {
			return 0, fmt.Errorf("read the gateway's events: %w", err)
		}
		if len(rows) == 0 {
			return after, nil
		}
		after = rows[len(rows)-1].Seq
	}
}

// awaitMatch waits up to wait for an event after seq with code ("" for
// any) about subject ("" for any) that match accepts, records it and
// checks it was found: want is the check's expectation, match's string
// what the found event shows.
func awaitMatch(ctx context.Context, t *Target, p *Probe, code, subject string, after int64, wait time.Duration, want string,
	match func(store.EventRow) (string, bool)) error {
	deadline := time.Now().Add(wait)
	for {
		from := after
		for {
			rows, err := t.Events.ListEvents(ctx, store.EventFilter{AfterSeq: from, Code: code, Subject: subject, Limit: 500})
			if err != nil {
				return fmt.Errorf("read the gateway's events: %w", err)
			}
			if len(rows) == 0 {
				break
			}
			for _, r := range rows {
				if (code != "" && r.Code != code) || (subject != "" && r.Subject != subject) {
					continue
				}
				if got, ok := match(r); ok {
					p.Event(r)
					p.Check("security event in the gateway's store", want, got)
					return nil
				}
			}
			from = rows[len(rows)-1].Seq
		}
		if time.Now().After(deadline) {
			p.Check("security event in the gateway's store", want, "none")
			return nil
		}
		if err := sleep(ctx, eventPoll); err != nil {
			p.Check("security event in the gateway's store", want, "none")
			return err
		}
	}
}

package drill

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// vehicle is a drill vehicle: enrolled through the gateway's public path,
// with its own certificate, TLS key and frame key. It posts frames on the
// batch path (POST /v1/vehicle/telemetry) over its own mutual-TLS client.
type vehicle struct {
	id     string
	creds  sim.Credentials
	signer frame.Signer
	client *http.Client
	url    string
}

// enroll enrolls a new drill vehicle named after the drill, with a random
// suffix so that drills against a running gateway never collide with
// earlier runs.
func enroll(ctx context.Context, t *Target, drill string) (*vehicle, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return enrollAs(ctx, t, fmt.Sprintf("%s-%s-%s", t.Prefix, drill, hex.EncodeToString(b[:])))
}

// enrollAs enrolls drill vehicle id (one registered beforehand keeps its
// carrier).
func enrollAs(ctx context.Context, t *Target, id string) (*vehicle, error) {
	creds, err := t.Provisioner.Provision(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("enroll the drill vehicle: %w", err)
	}
	signer, err := frame.NewEd25519Signer(creds.FrameKey)
	if err != nil {
		return nil, err
	}
	roots, err := t.roots()
	if err != nil {
		return nil, err
	}
	cert := tls.Certificate{PrivateKey: creds.TLSKey, Leaf: creds.Chain[0]}
	for _, c := range creds.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots,
		Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true, Proxy: nil}
	return &vehicle{id: id, creds: creds, signer: signer, url: t.URL,
		client: &http.Client{Transport: tr, Timeout: requestTimeout}}, nil
}

func (v *vehicle) close() { v.client.CloseIdleConnections() }

// subject is how the gateway's events name the vehicle.
func (v *vehicle) subject() string {
	return principal.Principal{Kind: principal.Vehicle, ID: v.id}.String()
}

// telemetry is a plausible frame body: parked, GNSS and wheel speed agree,
// so no plausibility finding muddies the drill's events. odo makes two
// frames' bytes differ.
func telemetry(odo float64) *frame.Telemetry {
	return &frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 48.1, Lon: 11.5, SpeedMPS: 0, HeadingDeg: 0, Fix: frame.Fix3D, HDOP: 0.8},
		WheelSpeedMPS: 0,
		OdometerM:     1_000_000 + odo,
		State:         frame.StateParked,
		Health:        frame.Health{CPUTempC: 55.5, BatteryV: 27.6, Faults: []string{}},
	}
}

// frameAt is a telemetry frame of v at (epoch, seq) made at ts.
func (v *vehicle) frameAt(vehicleID string, epoch, seq uint64, ts time.Time, odo float64) *frame.Frame {
	return &frame.Frame{VehicleID: vehicleID, Epoch: epoch, Seq: seq, TS: ts.UTC().Truncate(time.Millisecond),
		Body: telemetry(odo)}
}

// sign signs f with v's frame key.
func (v *vehicle) sign(f *frame.Frame) ([]byte, error) {
	return frame.Sign(v.signer, v.creds.FrameKID, f)
}

// signOver returns an envelope carrying f's bytes with the signature made
// over other's bytes: a frame tampered with after signing.
func (v *vehicle) signOver(f, other *frame.Frame) ([]byte, error) {
	fb, err := f.MarshalCanonical()
	if err != nil {
		return nil, err
	}
	ob, err := other.MarshalCanonical()
	if err != nil {
		return nil, err
	}
	sig, err := v.creds.FrameKey.Sign(rand.Reader, ob, crypto.Hash(0))
	if err != nil {
		return nil, err
	}
	return frame.AssembleEnvelope(frame.AlgEd25519, v.creds.FrameKID, fb, sig), nil
}

// verdict is the gateway's answer for one frame.
type verdict struct {
	Verdict   string   `json:"verdict"`
	Code      string   `json:"code"`
	Findings  []string `json:"findings"`
	Duplicate bool     `json:"duplicate"`
}

// String is "accepted", "accepted:duplicate" (an exact re-send, answered
// as the original was), or "rejected:<code>".
func (v verdict) String() string {
	if v.Duplicate {
		return v.Verdict + ":duplicate"
	}
	if v.Code == "" {
		return v.Verdict
	}
	return v.Verdict + ":" + v.Code
}

// accepted is verdict.String of an accepted frame.
const accepted = "accepted"

// rejected is verdict.String of a frame refused with code.
func rejected(code string) string { return "rejected:" + code }

// post sends one frame on the batch path and returns the gateway's verdict.
func (v *vehicle) post(ctx context.Context, env []byte) (verdict, error) {
	body := append(append([]byte(`{"frames":[`), env...), `]}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url+agent.TelemetryPath, bytes.NewReader(body))
	if err != nil {
		return verdict{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return verdict{}, fmt.Errorf("post a frame: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return verdict{}, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return verdict{}, fmt.Errorf("post a frame: HTTP %d: %.200s", resp.StatusCode, b)
	}
	var out struct {
		Results []verdict `json:"results"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != 1 {
		return verdict{}, fmt.Errorf("post a frame: unexpected answer %.200s", b)
	}
	return out.Results[0], nil
}

// postSigned signs f and posts it.
func (v *vehicle) postSigned(ctx context.Context, f *frame.Frame) (verdict, error) {
	env, err := v.sign(f)
	if err != nil {
		return verdict{}, err
	}
	return v.post(ctx, env)
}

// setUp posts a frame that must be accepted: the state the attack starts
// from. Its verdict is a check, so a gateway that refuses everything
// does not pass a drill for the wrong reason.
func (v *vehicle) setUp(ctx context.Context, p *Probe, f *frame.Frame) error {
	got, err := v.postSigned(ctx, f)
	if err != nil {
		return err
	}
	if !p.Check(fmt.Sprintf("set-up frame (epoch %d, seq %d)", f.Epoch, f.Seq), accepted, got.String()) {
		return errors.New("the set-up frame was not accepted")
	}
	return nil
}

// refused posts the attack envelope and checks the refusal code and the
// gateway's event for v.
func (v *vehicle) refused(ctx context.Context, t *Target, p *Probe, what string, env []byte, code string) error {
	start := time.Now()
	got, err := v.post(ctx, env)
	if err != nil {
		return err
	}
	p.Timing("refusal round trip", time.Since(start), 0)
	p.Check(what+": the gateway's answer", rejected(code), got.String())
	return awaitEvent(ctx, t, p, code, v.subject(), nil)
}

// awaitEvent waits for an event with code about subject ("" for any)
// that match accepts (nil for any), records it as evidence and checks it
// was found.
func awaitEvent(ctx context.Context, t *Target, p *Probe, code, subject string, match func(store.EventRow) bool) error {
	want := code
	if subject != "" {
		want += " about " + subject
	}
	deadline := time.Now().Add(p.eventWait)
	for {
		row, found, err := findEvent(ctx, t.Events, code, subject, match)
		if err != nil {
			return fmt.Errorf("read the gateway's events: %w", err)
		}
		if found {
			p.Event(row)
			got := row.Code
			if subject != "" {
				got += " about " + row.Subject
			}
			p.Check("security event in the gateway's store", want, got)
			return nil
		}
		if time.Now().After(deadline) {
			p.Check("security event in the gateway's store", want, "none")
			return nil
		}
		select {
		case <-ctx.Done():
			p.Check("security event in the gateway's store", want, "none")
			return ctx.Err()
		case <-time.After(eventPoll):
		}
	}
}

// findEvent pages through the events with code (and subject) for one
// that match accepts.
func findEvent(ctx context.Context, l sim.EventLister, code, subject string, match func(store.EventRow) bool) (store.EventRow, bool, error) {
	var after int64
	for {
		rows, err := l.ListEvents(ctx, store.EventFilter{AfterSeq: after, Code: code, Subject: subject, Limit: 500})
		if err != nil {
			return store.EventRow{}, false, err
		}
		for _, r := range rows {
			if r.Code == code && (subject == "" || r.Subject == subject) && (match == nil || match(r)) {
				return r, true, nil
			}
		}
		if len(rows) == 0 {
			return store.EventRow{}, false, nil
		}
		after = rows[len(rows)-1].Seq
	}
}

// eventAttr returns the attribute name of an event's body as a string.
func eventAttr(r store.EventRow, name string) string {
	var body struct {
		Attrs map[string]any `json:"attrs"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return ""
	}
	switch v := body.Attrs[name].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		var s []string
		for _, x := range v {
			if xs, ok := x.(string); ok {
				s = append(s, xs)
			}
		}
		return strings.Join(s, ",")
	}
	return ""
}

// roots is the fleet root as a pool.
func (t *Target) roots() (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(t.RootPEM) {
		return nil, errors.New("no certificate in the target's root PEM")
	}
	return p, nil
}

// handshake dials the vehicle listener and runs a TLS handshake with cfg,
// then reads once: in TLS 1.3 the server's verdict on the client's
// certificate arrives after the client's handshake has completed. It
// returns the local address the gateway saw and the error that ended the
// exchange (nil if the gateway let the connection stand).
func (t *Target) handshake(ctx context.Context, cfg *tls.Config) (string, error) {
	return handshakeWith(ctx, t.URL, cfg)
}

// handshakeWith is handshake against the listener at listenerURL.
func handshakeWith(ctx context.Context, listenerURL string, cfg *tls.Config) (string, error) {
	u, err := url.Parse(listenerURL)
	if err != nil {
		return "", err
	}
	d := net.Dialer{Timeout: requestTimeout}
	raw, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", u.Host, err)
	}
	local := raw.LocalAddr().String()
	cfg = cfg.Clone()
	cfg.ServerName = u.Hostname()
	c := tls.Client(raw, cfg)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	if err := c.HandshakeContext(ctx); err != nil {
		return local, err
	}
	// A request the gateway would answer if it admitted the peer.
	if _, err := io.WriteString(c, "GET /v1/pki/ca HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
		return local, err
	}
	_, err = c.Read(make([]byte, 1))
	return local, err
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/session"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// reportFinding files a finding about vehicle on g's store, as the
// detection engine does, and returns the id of its incident.
func reportFinding(t *testing.T, g *gateway, id, rule, vehicle string) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := incident.New(incident.Config{}, incident.Deps{Store: st, Events: event.NewBus(nil, nil, event.NewStoreSink(st))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := m.Report(ctx, detect.Finding{ID: id, RuleID: rule, Title: "a replayed telemetry frame", Severity: codes.SeverityHigh, Safety: true,
		SubjectKind: "vehicle", Subject: vehicle, FirstAt: now, At: now, Count: 1, Runbook: "Contain: revoke the truck's certificate."}); err != nil {
		t.Fatal(err)
	}
	inc, err := st.IncidentOfFinding(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// TestAttackContainedTruckKeepsItsSession: a compromised truck must not
// keep its session once its incident is contained. Containing an incident with
// revoke_certificate (`fifthwheel incidents contain --action
// revoke_certificate`, the operator's CLI) really cuts the vehicle off:
// its live session is closed with 4003 session_closed_revoked within the
// revocation SLA (the path `pki revoke --vehicle` takes), and a new
// handshake with its certificate is refused. The incident records the
// action with the operator and is contained. On PostgreSQL the command
// goes through one gateway and the session is on the other.
func TestAttackContainedTruckKeepsItsSession(t *testing.T) {
	// Sequential (no t.Parallel): it asserts revocationSLA, which a
	// parallel neighbour's load could break.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctl, gw := typedCloseGateways(t, engine)
			tr := startTruck(t, gw, "truck-1", truckOptions{issuer: ctl, agent: typedCloseAgent})
			inc := reportFinding(t, ctl, "f-replay-1", "telemetry_replay", "truck-1")
			start := time.Now()
			out := ctl.mustCLI("incidents", "contain", inc, "--action", "revoke_certificate", "--reason", "key_compromise")
			if !strings.Contains(out, "revoke_certificate urn:fifthwheel:vehicle:truck-1: done: 1 certificate(s) revoked") {
				t.Fatalf("contain: %s", out)
			}
			checkTypedClose(t, gw, tr, start, agent.ErrRevoked, session.CloseRevoked, codes.SessionClosedRevoked,
				codes.SessionClosedRevoked, "revoked")
			cert := tls.Certificate{PrivateKey: tr.ident.TLSKey}
			for _, c := range tr.ident.Chain {
				cert.Certificate = append(cert.Certificate, c.Raw)
			}
			if refused, err := refusedHandshake(t, gw.addrs.Vehicle, gw.tlsConfig(cert)); !refused {
				t.Fatalf("the contained truck's handshake was admitted (%v)", err)
			}
			show := ctl.mustCLI("incidents", "show", inc)
			if !strings.Contains(show, "state      contained") || !strings.Contains(show, "revoke_certificate urn:fifthwheel:vehicle:truck-1 by urn:fifthwheel:operator:") {
				t.Fatalf("incident after containment:\n%s", show)
			}
			ctl.waitEvent(codes.IncidentContainment, "urn:fifthwheel:vehicle:truck-1")
		})
	}
}

// tmsPost calls a TMS API POST route with credential c, the bearer token
// and an Idempotency-Key.
func (g *gateway) tmsPost(c tls.Certificate, token, path, key, body string) (*http.Response, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+g.addrs.TMS+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := g.client(c).Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestIncidentAPIThroughServe: the incident routes as `serve` wires them,
// behind the real token endpoint and guard: an auditor reads incidents and
// cannot acknowledge one; a security admin acknowledges it, then contains
// it through the API with revoke_certificate, which closes the truck's
// session as revoked (serve's own CA revokes; the SLA is
// TestAttackContainedTruckKeepsItsSession's).
func TestIncidentAPIThroughServe(t *testing.T) {
	t.Parallel()
	g := devGateway(t)
	tr := startTruck(t, g, "truck-9", truckOptions{agent: typedCloseAgent})
	inc := reportFinding(t, g, "f-1", "telemetry_replay", "truck-9")
	aud := issueTMS(g, "operator", "aud", "auditor")
	sec := issueTMS(g, "operator", "sec", "security-admin")
	tokAud := g.token(aud, "incidents:read")
	if resp, body := g.tmsGet(aud, tokAud, "/v1/incidents?state=open"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), inc) {
		t.Fatalf("auditor lists: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.tmsGet(aud, tokAud, "/v1/incidents/"+inc); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"runbooks":[{"rule":"telemetry_replay"`) {
		t.Fatalf("auditor reads: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.tmsPost(aud, tokAud, "/v1/incidents/"+inc+"/ack", "k1", `{}`); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), codes.AccessScopeRequired) {
		t.Fatalf("auditor acknowledges: %d %s", resp.StatusCode, body)
	}
	tokSec := g.token(sec, "incidents:write")
	resp, body := g.tmsPost(sec, tokSec, "/v1/incidents/"+inc+"/ack", "k2", `{"note":"on it"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"state":"acknowledged"`) || !strings.Contains(string(body), "urn:fifthwheel:operator:sec") {
		t.Fatalf("security admin acknowledges: %d %s", resp.StatusCode, body)
	}
	g.waitEvent(codes.IncidentAcknowledged, "urn:fifthwheel:operator:sec")
	resp, body = g.tmsPost(sec, tokSec, "/v1/incidents/"+inc+"/contain", "k3", `{"action":"revoke_certificate","reason":"key_compromise"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"state":"contained"`) || !strings.Contains(string(body), "1 certificate(s) revoked") {
		t.Fatalf("security admin contains: %d %s", resp.StatusCode, body)
	}
	if ev := tr.firstDisconnect(); !errors.Is(ev.Err, agent.ErrRevoked) {
		t.Fatalf("the contained truck's session ended with %v, want revoked", ev.Err)
	}
}

package drill

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The threat model's words (docs/THREATMODEL.md, Assets and Actors) and
// the seed's developer checklist and testing items, as the report quotes
// them.
const (
	assetTelemetry = "telemetry streams"
	assetIdentity  = "vehicle and client identities (certificates, keys, tokens)"
	assetCommands  = "command channels (tenders, route updates, dispatch)"
	assetForensics = "logs and forensic artefacts"

	actorCompromisedVehicle = "compromised vehicle or insider holding a truck's credentials"
	actorNetwork            = "remote attacker on the network path"
	actorForger             = "attacker forging a vehicle identity"
	actorInsiderTMS         = "insider with TMS or fleet access"

	checkSignTelemetry = "Sign all telemetry at source with hardware-backed keys and include sequence numbers."
	checkMTLS          = "Enable mTLS for all vehicle-facing endpoints; reject non-cert connections."
	checkTokens        = "Issue short-lived tokens tied to client certs and implement automated cert rotation/CRL/OCSP."
	checkHeartbeat     = "Implement heartbeat + safe-state with deterministic fallback behavior; define and test timing SLAs."
	checkSIEM          = "Integrate telemetry integrity alerts into SIEM and create incident runbooks with notification SLAs."
	testReplay         = "Replay and tampering injection tests against telemetry ingestion to validate detection rules."
	testTokenBinding   = "Negative tests for token/cert binding."
	checkApproval      = "Authorize the TMS role for re-route; check 2-person approval if above-risk threshold."
)

// Catalogue is every drill, available or not, in report order.
func Catalogue() []Drill {
	return []Drill{
		{Name: "telemetry-replay", Control: "replay protection: the same (vehicle, epoch, seq) with other bytes is refused",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector:    "re-send a stored frame's (epoch, seq) with other, validly signed bytes on the batch path",
			Checklist: testReplay, Run: replayDrill},
		{Name: "tampered-frame", Control: "per-frame signature over the exact received bytes",
			Asset: assetTelemetry, Actor: actorNetwork,
			Vector: "change a signed frame's bytes and keep its signature", Checklist: testReplay, Run: tamperDrill},
		{Name: "vehicle-mismatch", Control: "identity only from the verified certificate: the frame's vehicle_id must equal it",
			Asset: assetIdentity, Actor: actorCompromisedVehicle,
			Vector: "an enrolled truck sends frames naming another vehicle", Checklist: checkSignTelemetry, Run: mismatchDrill},
		{Name: "clock-skew", Control: "freshness: frames beyond ±clock_skew of gateway time are refused",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector: "a frame time-stamped in the future beyond the skew window", Checklist: checkSignTelemetry, Run: skewDrill},
		{Name: "counter-rollback", Control: "counter strictly increasing, decided atomically in the store",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector: "after a high sequence number, send a lower one never used", Checklist: checkSignTelemetry, Run: rollbackDrill},
		{Name: "epoch-jump", Control: "the epoch moves only through an audited operator action",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector: "reset the counter by sending the next epoch without authorization", Checklist: checkSignTelemetry,
			Run: epochDrill},
		{Name: "non-canonical-bytes", Control: "frames must be RFC 8785 canonical: no parser differentials between signer and verifier",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector: "a frame in non-canonical JSON, validly signed over exactly those bytes", Checklist: testReplay,
			Run: nonCanonicalDrill},
		{Name: "gnss-jump", Control: "cross-sensor plausibility: a fix further from the last than max_implied_speed_mps allows raises position_jump (the frame kept)",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector:    "false GNSS injection: a parked truck's signed fix jumps 5 km in 1 s",
			Checklist: checkSIEM, Run: gnssJumpDrill},
		{Name: "wheel-gnss-disagreement", Control: "cross-sensor plausibility: wheel and GNSS speed disagreeing beyond speed_disagree_ratio for speed_disagree_frames frames raise speed_disagreement (the frames kept)",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector:    "false GNSS injection: signed frames whose GNSS speed the wheel speed does not bear out",
			Checklist: checkSIEM, Run: speedDisagreeDrill},
		{Name: "tls12-refused", Control: "TLS 1.3 only on the vehicle listener",
			Asset: assetIdentity, Actor: actorNetwork,
			Vector: "downgrade: a client offering TLS 1.2 at most", Checklist: checkMTLS, Run: tls12Drill},
		{Name: "self-signed-chain", Control: "client certificates must chain to the fleet CA",
			Asset: assetIdentity, Actor: actorForger,
			Vector: "a self-signed certificate carrying an enrolled truck's exact SAN", Checklist: checkMTLS,
			Run: selfSignedDrill},
		{Name: "ca-certificate-as-client", Control: "a CA certificate never authenticates a principal: client certificates must be leaves of their profile",
			Asset: assetIdentity, Actor: actorForger,
			Vector:    "a certificate from the fleet's issuing intermediate with an enrolled truck's exact SAN but basicConstraints CA:TRUE (a misissued certificate), its key held by the attacker",
			Checklist: checkMTLS, Run: caAsClientDrill},
		{Name: "revocation-racing-renewal", Control: "revocation is a fact about the vehicle: no certificate issued before or during it survives it, renewals racing it included; effective within 1 s",
			Asset: assetIdentity, Actor: actorCompromisedVehicle,
			Vector:    "chained renewers holding a stolen vehicle credential renew it through POST /v1/pki/renew while the operator revokes the vehicle",
			Checklist: checkTokens, Run: revocationRaceDrill},
		{Name: "wrong-profile-certificate", Control: "each listener admits only its certificate kinds: vehicles on the vehicle listener",
			Asset: assetIdentity, Actor: actorInsiderTMS,
			Vector:    "a valid TMS client certificate, issued by the fleet CA, presented to the vehicle listener",
			Checklist: checkMTLS, Run: wrongProfileDrill},
		{Name: "revoked-vehicle", Control: "revocation effective within 1 s: the live session closed with the typed close, the next handshake refused",
			Asset: assetIdentity, Actor: actorForger,
			Vector:    "a truck whose key is compromised keeps its session and reconnects after the operator revokes it",
			Checklist: checkTokens, Exclusive: true, Run: revokedDrill},
		{Name: "heartbeat-blackout", Control: "comm-loss detection: the gateway declares comm_lost within interval × misses + 200 ms of the last heartbeat; the truck begins its minimal-risk maneuver on its own and is in safe_state within 15 s of its last heartbeat",
			Asset: assetTelemetry, Actor: actorNetwork,
			Vector:    "a live truck's link goes silent (jamming, a cut or a dropped route): no FIN, no RST",
			Checklist: checkHeartbeat, Exclusive: true, Run: blackoutDrill},
		{Name: "reconnection-flapping", Control: "resume hold-down: a truck in safe state is resumed only after its session has been stable for session.resume_stable_heartbeats heartbeats; a flapping link never resumes it, a stable one resumes it once",
			Asset: assetTelemetry, Actor: actorNetwork,
			Vector:    "a stopped truck's link flaps: up for less than the hold-down, down again, several times, then stable",
			Checklist: checkHeartbeat, Exclusive: true, Run: flapDrill},
		{Name: "handshake-stall", Control: "per-source admission: one source holds at most tls.max_pending_handshakes_per_source handshakes, the excess refused on accept and recorded; other vehicles get in within 1 s",
			Asset: assetIdentity, Actor: actorNetwork,
			Vector:    "a host without a certificate opens more silent TCP connections to the vehicle listener than its per-source bound, while a truck drives",
			Checklist: checkMTLS, Exclusive: true, Run: stallDrill},
		{Name: "unauthenticated-event-flood", Control: "events about peers without a certificate are aggregated per source and window: a flood leaves a bounded number of events, its counts kept in summaries; live trucks keep their acks",
			Asset: assetForensics, Actor: actorNetwork,
			Vector:    "a host without a certificate floods the vehicle listener with forged handshakes and certificate-less requests",
			Checklist: checkMTLS, Exclusive: true, Run: floodDrill},
		{Name: "tms-stolen-token-without-certificate", Control: "certificate-bound tokens (RFC 8705): every TMS route needs the client certificate; a token alone is refused 403 client_certificate_required and the refusal recorded per source",
			Asset: assetIdentity, Actor: actorNetwork,
			Vector:    "a TMS client's stolen, unexpired access token sent from a connection without a client certificate",
			Checklist: testTokenBinding, Run: stolenTokenWithoutCertificateDrill},
		{Name: "tms-token-bound-to-another-certificate", Control: "certificate-bound tokens (RFC 8705 §3): the token's cnf x5t#S256 must be the connection's certificate; refused 401 invalid_token with a generic answer, the event naming the presenter",
			Asset: assetIdentity, Actor: actorInsiderTMS,
			Vector:    "a TMS client of the same carrier, with its own valid certificate, replays another client's token",
			Checklist: testTokenBinding, Run: tokenBoundToAnotherCertificateDrill},
		{Name: "tms-revoked-client-live-token", Control: "revocation stops unexpired tokens within 1 s: the revoked client's token refused on its live connection and on a new one",
			Asset: assetIdentity, Actor: actorInsiderTMS,
			Vector:    "a TMS client whose key is compromised keeps using its unexpired token after the operator revokes it",
			Checklist: checkTokens, Run: revokedClientLiveTokenDrill},
		{Name: "tms-cross-carrier-read", Control: "carrier scope: a client reads only its carrier's vehicles; another carrier's answers the same 404 as an unknown id, recorded access_other_carrier",
			Asset: assetTelemetry, Actor: actorInsiderTMS,
			Vector:    "a TMS client of carrier A reads the state and telemetry of carrier B's vehicle",
			Checklist: testTokenBinding, Run: crossCarrierReadDrill},

		{Name: "command-without-approvals", Control: "two-person approval: a high-risk command (hazmat) waits in pending_approval and reaches no truck until two distinct approvers other than the requester approve; then it is delivered, executed once and accepted",
			Asset: assetCommands, Actor: actorInsiderTMS,
			Vector:    "a dispatcher tenders a hazmat load and dispatches it to a truck in session, with no approval",
			Checklist: checkApproval, Run: commandWithoutApprovalsDrill},
		{Name: "command-self-approval", Control: "approvals come from principals other than the requester: a requester holding the approver role is refused command_approval_refused_self, recorded; the command stays pending",
			Asset: assetCommands, Actor: actorInsiderTMS,
			Vector:    "a dispatcher that also holds the approver role approves its own hazmat dispatch",
			Checklist: checkApproval, Run: commandSelfApprovalDrill},
		{Name: "tms-retry-executed-once", Control: "exactly-once: a POST retried with its Idempotency-Key gets the original answer (Idempotent-Replayed) and creates nothing; the truck executes the command once; the key with another body is refused 409 idempotency_key_reused",
			Asset: assetCommands, Actor: actorInsiderTMS,
			Vector:    "a TMS retries a dispatch with the same Idempotency-Key (before and after execution), then reuses the key for another body",
			Checklist: checkApproval, Run: tmsRetryDrill},
		{Name: "command-replay-to-vehicle", Control: "the agent takes each signed command envelope once: a byte-for-byte replay on the session is refused (replayed, gateway frame order) as an authenticity failure: command_refused raised and the safe state started, never run or answered again; the gateway's record stays accepted, delivered once",
			Asset: assetCommands, Actor: actorNetwork,
			Vector:    "an attacker inside the truck's TLS path (a compromised terminator or gateway replica) re-sends a command envelope it saw after the truck executed it",
			Checklist: testReplay, Run: commandReplayDrill},
		{Name: "command-for-another-vehicle", Control: "commands are addressed: the gateway delivers a command on its vehicle's session only, and a truck refuses one signed for another (command_wrong_vehicle), raises command_refused and starts its safe state; the gateway refuses its answer (vehicle_mismatch)",
			Asset: assetCommands, Actor: actorNetwork,
			Vector:    "truck A's signed dispatch envelope injected into truck B's session by an attacker inside B's TLS path",
			Checklist: checkSignTelemetry, Run: commandForAnotherVehicleDrill},
		{Name: "command-expired-across-blackout", Control: "a command waits for its offline truck (queued, vehicle_offline) and is never delivered after its expiry: expired (command_expired) while the truck is dark, not sent when it reconnects with a fresh challenge-response",
			Asset: assetCommands, Actor: actorNetwork,
			Vector:    "the truck's link goes silent; a short-lived dispatch is queued, expires, and the truck reconnects",
			Checklist: checkHeartbeat, Run: commandExpiredAcrossBlackoutDrill},

		{Name: "audit-log-tampering", Control: "tamper-evident audit log: `audit verify` against a checkpoint saved before names every security event row edited or deleted since, by its leaf and position",
			Asset: assetForensics, Actor: actorInsiderTMS, Vector: "rewrite one stored security event and delete another directly in the database",
			Checklist: checkSIEM, Run: auditLogTamperDrill},
		{Name: "forensic-bundle-verified-offline", Control: "forensic bundles: the evidence of an attacked vehicle (raw signed frames, refusal events, certificates, keys), each logged item with its inclusion proof against one signed checkpoint, under a manifest signed by the audit log key, verifies offline with the log key alone",
			Asset: assetForensics, Actor: actorCompromisedVehicle,
			Vector:    "a truck replays a frame (refused, recorded); an investigator exports its bundle and verifies it with no gateway, network or store",
			Checklist: checkSIEM, Run: forensicBundleDrill},
		{Name: "tampered-bundle-refused", Control: "forensic bundles are tamper-evident: a copy with one byte changed is refused offline, naming the file and the check that failed",
			Asset: assetForensics, Actor: actorInsiderTMS,
			Vector:    "an insider edits one byte of a frame in an exported bundle before handing it over",
			Checklist: checkSIEM, Run: tamperedBundleDrill},

		{Name: "replay-opens-incident", Control: "detection and incident response: a telemetry replay opens an incident about the vehicle within 1 s, with the frame-replay finding naming the refusal, its runbook, and the internal, customer and regulator notification clocks running from its start",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle,
			Vector:    "re-send a stored frame's (epoch, seq) with other, validly signed bytes",
			Checklist: checkSIEM, Run: replayIncidentDrill},
		{Name: "detection-rules", Control: "detection rules: a burst of bad signatures opens an incident, an exact re-send (normal agent behaviour after a lost answer) fires nothing, and a replay joins the vehicle's incident",
			Asset: assetTelemetry, Actor: actorCompromisedVehicle, Vector: "three frames whose bytes differ from those signed, an exact re-send, then a replay",
			Checklist: testReplay, Run: detectionRulesDrill},
		{Name: "incident-containment", Control: "containment from an incident: revoking the vehicle's certificate from its replay incident closes its live session within 1 s with the typed close and refuses its next handshake; the action is on the incident's record with its actor",
			Asset: assetIdentity, Actor: actorCompromisedVehicle,
			Vector:    "a truck in session replays a frame; the security team contains the incident",
			Checklist: checkSIEM, Run: containmentDrill},
		{Name: "incident-reaches-siem", Control: "SIEM delivery: the replay's incident (OCSF Incident Finding) reaches the SIEM webhook receiver in a signed batch, and every configured SIEM sink delivers it without a dead letter",
			Asset: assetForensics, Actor: actorCompromisedVehicle,
			Vector:    "a truck replays a frame; the SOC's SIEM must hear of the incident",
			Checklist: checkSIEM, Run: siemDrill},
	}
}

// Select returns the drills of cat named in names, in catalogue order, or
// an error naming those that do not exist. No names selects every drill.
func Select(cat []Drill, names []string) ([]Drill, error) {
	if len(names) == 0 {
		return cat, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Drill
	for _, d := range cat {
		if want[d.Name] {
			out = append(out, d)
			delete(want, d.Name)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for n := range want {
			unknown = append(unknown, n)
		}
		return nil, fmt.Errorf("no drill named %v", unknown)
	}
	return out, nil
}

// freshEpoch is the epoch drill vehicles start in: the epoch a newly
// registered vehicle is authorized for.
const freshEpoch = 0

// replayDrill: a frame is accepted at (epoch, 1); another frame, other
// bytes, validly signed, at the same (epoch, 1) must be refused replay.
func replayDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "telemetry-replay")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	if err := v.setUp(ctx, p, v.frameAt(v.id, freshEpoch, 1, now, 0)); err != nil {
		return err
	}
	env, err := v.sign(v.frameAt(v.id, freshEpoch, 1, now, 1))
	if err != nil {
		return err
	}
	return v.refused(ctx, t, p, "same (epoch, seq), other bytes", env, codes.Replay)
}

// tamperDrill: a frame whose bytes differ from those its signature covers
// must be refused bad_signature.
func tamperDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "tamper")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	if err := v.setUp(ctx, p, v.frameAt(v.id, freshEpoch, 1, now, 0)); err != nil {
		return err
	}
	signed := v.frameAt(v.id, freshEpoch, 2, now, 0)
	sent := v.frameAt(v.id, freshEpoch, 2, now, 5000) // the odometer moved after signing
	env, err := v.signOver(sent, signed)
	if err != nil {
		return err
	}
	return v.refused(ctx, t, p, "bytes other than those signed", env, string(frame.CodeBadSignature))
}

// mismatchDrill: truck A, with its own certificate and frame key, sends a
// frame naming enrolled truck B: refused vehicle_mismatch, recorded
// against A.
func mismatchDrill(ctx context.Context, t *Target, p *Probe) error {
	a, err := enroll(ctx, t, "mismatch")
	if err != nil {
		return err
	}
	defer a.close()
	b, err := enroll(ctx, t, "mismatch-victim")
	if err != nil {
		return err
	}
	defer b.close()
	env, err := a.sign(a.frameAt(b.id, freshEpoch, 1, time.Now(), 0))
	if err != nil {
		return err
	}
	return a.refused(ctx, t, p, "another vehicle's id in the frame", env, codes.VehicleMismatch)
}

// skewDrill: a frame from beyond the skew window in the future (on the
// batch path a past frame may be backfill; a future one never is).
func skewDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "skew")
	if err != nil {
		return err
	}
	defer v.close()
	ahead := t.ClockSkew + 30*time.Second
	env, err := v.sign(v.frameAt(v.id, freshEpoch, 1, time.Now().Add(ahead), 0))
	if err != nil {
		return err
	}
	return v.refused(ctx, t, p, fmt.Sprintf("frame %s in the future", ahead), env, codes.ClockSkew)
}

// rollbackDrill: after seq window+10 is accepted, seq 1 (never used, below
// the window) must be refused stale_counter.
func rollbackDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "rollback")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	high := uint64(t.Window) + 10
	if err := v.setUp(ctx, p, v.frameAt(v.id, freshEpoch, high, now, 0)); err != nil {
		return err
	}
	env, err := v.sign(v.frameAt(v.id, freshEpoch, 1, now, 1))
	if err != nil {
		return err
	}
	return v.refused(ctx, t, p, fmt.Sprintf("seq 1 after seq %d", high), env, codes.StaleCounter)
}

// epochDrill: after a frame in epoch E, a frame in E+1 (seq 1) without
// the operator's authorization must be refused epoch_not_authorized.
func epochDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "epoch")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	if err := v.setUp(ctx, p, v.frameAt(v.id, freshEpoch, 5, now, 0)); err != nil {
		return err
	}
	env, err := v.sign(v.frameAt(v.id, freshEpoch+1, 1, now, 1))
	if err != nil {
		return err
	}
	return v.refused(ctx, t, p, "next epoch, seq 1", env, codes.EpochNotAuthorized)
}

// nonCanonicalDrill: the frame's bytes with one insignificant space,
// signed over exactly those bytes (so the signature holds), must be
// refused not_canonical: the gateway verifies only canonical bytes.
func nonCanonicalDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "noncanonical")
	if err != nil {
		return err
	}
	defer v.close()
	fb, err := v.frameAt(v.id, freshEpoch, 1, time.Now(), 0).MarshalCanonical()
	if err != nil {
		return err
	}
	if len(fb) < 2 || fb[0] != '{' {
		return errors.New("the canonical frame is not an object")
	}
	loose := append([]byte("{ "), fb[1:]...)
	sig, err := v.creds.FrameKey.Sign(rand.Reader, loose, crypto.Hash(0))
	if err != nil {
		return err
	}
	env := frame.AssembleEnvelope(frame.AlgEd25519, v.creds.FrameKID, loose, sig)
	return v.refused(ctx, t, p, "non-canonical bytes, valid signature", env, string(frame.CodeNotCanonical))
}

// wrongProfileDrill: a TMS client certificate, valid and issued by the
// fleet CA, must not open the vehicle listener: refused at the handshake
// and recorded as tls_kind_not_allowed for that client.
func wrongProfileDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.Issue == nil {
		return errors.New("the target cannot issue a client certificate")
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	who := principal.Principal{Kind: principal.Client, ID: fmt.Sprintf("%s-tms-%x", t.Prefix, b)}
	cert, err := t.Issue(ctx, who)
	if err != nil {
		return fmt.Errorf("issue the TMS client certificate: %w", err)
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	local, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	p.Check("TMS client certificate on the vehicle listener", alertFromGateway("bad certificate"), refusal(herr))
	return awaitEvent(ctx, t, p, codes.TLSKindNotAllowed, "", func(r store.EventRow) bool {
		return eventAttr(r, "remote") == local
	})
}

// tls12Drill: a client offering at most TLS 1.2 (with no certificate: the
// version is refused first) must fail the handshake, and the gateway must
// record tls_protocol_version for that very connection.
func tls12Drill(ctx context.Context, t *Target, p *Probe) error {
	roots, err := t.roots()
	if err != nil {
		return err
	}
	local, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
	p.Check("TLS 1.2 handshake", alertFromGateway("protocol version not supported"), refusal(herr))
	return awaitEvent(ctx, t, p, codes.TLSProtocolVersion, "", func(r store.EventRow) bool {
		return eventAttr(r, "remote") == local
	})
}

// selfSignedDrill: a certificate with an enrolled truck's exact URI SAN
// and subject, but self-signed, must be refused at the handshake, recorded
// as tls_unknown_authority naming the SAN it claimed.
func selfSignedDrill(ctx context.Context, t *Target, p *Probe) error {
	v, err := enroll(ctx, t, "selfsigned")
	if err != nil {
		return err
	}
	defer v.close()
	leaf := v.creds.Chain[0]
	if len(leaf.URIs) == 0 {
		return errors.New("the enrolled certificate has no URI SAN to forge")
	}
	forged, err := selfSigned(leaf)
	if err != nil {
		return err
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	_, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged, nil }})
	p.Check("handshake with a self-signed chain", alertFromGateway("unknown certificate authority"), refusal(herr))
	uri := leaf.URIs[0].String()
	return awaitEvent(ctx, t, p, codes.TLSUnknownAuthority, "", func(r store.EventRow) bool {
		return eventAttr(r, "unverified_uri") == uri
	})
}

// selfSigned is a self-signed client certificate copying leaf's subject,
// SANs, key usages and validity, under a new key.
func selfSigned(leaf *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: leaf.Subject.CommonName},
		URIs: leaf.URIs, DNSNames: leaf.DNSNames, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		KeyUsage: leaf.KeyUsage, ExtKeyUsage: leaf.ExtKeyUsage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// alertFromGateway is refusal's answer for a handshake the gateway ended
// with the TLS alert of that description (crypto/tls's alert text).
func alertFromGateway(desc string) string { return "refused with the alert: tls: " + desc }

// refusal describes how a handshake ended: a refusal only for an alert
// the gateway sent (crypto/tls reports a received alert as a "remote
// error"), so that a failure on the drill's side (a configuration error,
// a dial error, a timeout) never passes for a refusal.
func refusal(err error) string {
	var op *net.OpError
	switch {
	case err == nil:
		return "completed: the gateway admitted the connection"
	case errors.As(err, &op) && op.Op == "remote error":
		return "refused with the alert: " + op.Err.Error()
	default:
		return "ended otherwise: " + err.Error()
	}
}

// Package drill is the gateway's security drill catalogue: attacks and
// faults performed against a real gateway over the network, each checked
// against the outcome the gateway promises (refused with the right reason
// code, the security event written in its store, a state reached within
// its SLA), with the evidence kept for an auditor.
//
// A Drill names the control it tests, the threat-model asset, actor and
// attack vector it covers (docs/THREATMODEL.md), and the item of the
// seed's developer checklist it evidences. Run runs a catalogue and
// returns a Report (report.go), which has a versioned JSON form whose
// schema is published in docs/drill-report.schema.json.
//
// # What a drill proves, and what it does not
//
// A passing drill proves that, on the gateway it ran against and at that
// moment, one concrete instance of the attack was refused the documented
// way and the refusal was recorded: the reason code the attacker saw and
// the event read back from the gateway's own store both match. It does
// not prove that every variant of the attack is refused (the unit, fuzz
// and conformance tests of each package cover variants), nor anything
// about a gateway configured differently, nor that a detection or an
// operator would act on the event.
//
// Outcomes are pass, fail and not_available. A drill passes only when it
// recorded at least one check and every check held: a drill that measured
// nothing fails, as does one that timed out or could not set itself up.
// not_available is only for drills whose capability has not landed in the
// gateway yet (the audit log, detection); each names the
// issue that will make it available. It is never counted as passed.
//
// # Security model
//
// The drills act as the attackers they model, with the means the threat
// model grants them: an enrolled vehicle's own credentials (an insider or
// a compromised truck), a host on the network with no credential, or a
// forged certificate. The host without a credential dials from another
// local address than the drill trucks (Target.AttackSource; 127.0.0.2
// against a loopback gateway), as the gateway's admission bounds and
// event aggregation are per source. Provisioning drill vehicles needs the
// fleet CA (join tokens), and checking outcomes needs read access to the
// gateway's event store: the drill runner is an operator tool, not a remote probe. Drill
// vehicles (and the TMS client of the wrong-profile drill) are real
// registry entries named with Target.Prefix; run drills against a
// production gateway only deliberately. The TMS access drills (access.go)
// also register drill TMS clients, carriers and vehicles without a
// credential, named with Target.Prefix, get certificate-bound tokens for
// those clients at the gateway's token endpoint, and revoke each drill
// client's certificates when the drill ends.
//
// The command-path drills (cmdpath.go) model an attacker inside a drill
// truck's TLS path (a compromised TLS terminator or gateway replica) with
// an on-path terminator (onpath.go): the drill truck pins the
// terminator's throw-away CA, the terminator speaks to the gateway with
// the truck's own certificate, sees the session's messages in clear and
// can re-send them, but holds no gateway key. Only drill trucks are ever
// routed through it.
package drill

// Package ocsf maps fifthwheel's stored security events to OCSF 1.3.0
// (Open Cybersecurity Schema Framework, https://schema.ocsf.io/1.3.0/)
// events, the format every SIEM sink writes (package siem): the events
// file, syslog, the SIEM webhook and NATS.
//
// # Classes
//
// Each reason code's area (codes.Area) decides the OCSF class
// (classByArea); a code the catalogue does not know falls back on the
// event's own class (classByEventClass), so an event is never dropped for
// want of a class. The classes used, with the attributes OCSF 1.3.0 makes
// required for each (Classes; a test checks every mapped example against
// them, and that every catalogued code's area has a class):
//
//   - Authentication 3002: TLS handshakes and certificates, access
//     tokens, enrollment with join tokens, the vehicle session's
//     handshake. Logon for an attempt, Logoff for a session's end.
//   - API Activity 6003: HTTP refusals, the TMS API, commands, the
//     registry, PKI operator actions, webhooks, tracking, forensics.
//   - Detection Finding 2004: the detection engine's findings, and the
//     telemetry checks (frame decoding, admission, plausibility) and
//     liveness (comm loss, safe state). Why a finding for telemetry and
//     liveness: OCSF 1.3.0 has no activity class for "a device sent a
//     signed sensor frame" or "a device stopped answering" whose required
//     attributes we could fill truthfully (Network Activity 4001 describes
//     a network flow between two endpoints, Device Inventory Info 5001 an
//     inventory snapshot); what the gateway does with a frame is what a
//     security control does with an observation: it verifies it and
//     reports what it found (OCSF's "Security Control" reading of
//     Detection Finding). Accepted traffic (summaries, a vehicle back
//     online) is a finding with informational severity and is_alert
//     false; refusals and safety states are alerts.
//   - Incident Finding 2005: the incident manager's events (class
//     "incident").
//   - Application Lifecycle 6002: the gateway process starting and
//     stopping, store migrations.
//
// Every event carries the common attributes: class_uid, category_uid,
// type_uid (class_uid*100 + activity_id), activity_id, severity_id (the
// event's severity is OCSF's scale already), time (Unix milliseconds),
// metadata {version, product {name, vendor_name, version}, uid = the event
// id, correlation_uid}, status_id where the class has one, src_endpoint for
// events about an unauthenticated peer (its Source), actor.user where a
// principal acted, and unmapped.event: the event exactly as the store
// holds it (its bytes are what the audit log covers), so nothing recorded
// is lost and a SIEM can check a line against the log.
//
// # Security model
//
// The mapping reads only what the event bus stored, after its sanitizer
// removed secrets (package event): it adds nothing a peer controls beyond
// what the stored event already holds. It never fails: a body that does
// not decode is mapped from the row's columns (unmapped.class, code,
// verdict) with unmapped.body_error, so
// one bad row cannot stall a sink that tails the stream.
//
// # Compatibility
//
// The OCSF version is Version. Attributes may be added; the class of a
// code does not change within a major version of fifthwheel. SIEM rules
// key on metadata.uid (the event id, stable across re-deliveries) and on
// unmapped.event.code (our reason code).
package ocsf

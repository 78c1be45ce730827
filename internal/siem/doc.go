// Package siem delivers the security events to SIEMs (issue 22): each sink
// is a consumer of the store's event stream (package tail) with its own
// name and cursor, so it resumes where it stopped after an outage or a
// restart, sees every replica's events in commit order, and never makes
// the gateway's decisions wait or fail (the synchronous event bus's sinks
// fail their callers closed; a SIEM that is down, or a full disk under the
// events file, must not refuse vehicles). Every sink writes OCSF 1.3.0
// (package ocsf).
//
// The sinks, each optional:
//
//   - File ("sink:ocsf-file"): OCSF JSON lines, rotated by size and by
//     age, old files kept by count and age. Written here rather than with
//     a library: the maintained one (natefinch/lumberjack) rotates by size
//     only, reads the wall clock from a package variable, and would be a
//     new module for about 150 lines.
//   - Syslog ("sink:syslog"): RFC 5424 messages over TLS with RFC 5425
//     octet-counting framing, the OCSF JSON as MSG and the event id in
//     structured data. Hand-written: Go's log/syslog is frozen, speaks
//     RFC 3164-style headers and no octet counting, and no maintained Go
//     library does RFC 5424 over TLS with octet counting well. The tests
//     check it against a strict parser written from the RFCs' ABNF.
//   - Webhook ("sink:webhook"): batches of OCSF events POSTed as JSON,
//     signed with package webhook's scheme (Webhook-Id, Webhook-Timestamp,
//     Webhook-Signature v1=HMAC-SHA256), retried with back-off; after
//     MaxAttempts or MaxAge a batch becomes a dead letter in the store
//     (`fifthwheel siem dead-letters list`), an event siem_dead_lettered
//     is recorded, and the sink moves on.
//   - NATS JetStream ("sink:nats"): one message per event on subject
//     <prefix>.<class>.<code>, published with a JetStream ack, with
//     Nats-Msg-Id = the event id so the stream's duplicate window drops a
//     re-delivery.
//
// # Delivery
//
// At least once, in stream order: a sink reports an event done only once
// it is written (the file fsynced, the webhook answered 2xx, JetStream
// acknowledged); a failure is retried by the tail consumer with back-off,
// from the first event not done. The stable event id (OCSF metadata.uid)
// is the de-duplication key: the file sink skips what its last line shows
// it already wrote, JetStream drops a Nats-Msg-Id it has seen within its
// window, webhook receivers de-duplicate on the ids in the body. Syslog
// has no acknowledgements (RFC 5425): what was in flight when a connection
// dies may be lost; the sink checks the connection before each batch and
// reconnects with back-off. A SIEM that needs every event uses the
// webhook or NATS.
//
// # Security model
//
// Sinks send only what the event bus stored, after its sanitizer removed
// secrets. Every destination is the operator's configuration, not a
// peer's: TLS to the syslog server (1.2 or later) and to the webhook and
// NATS servers is verified against a configured CA (or the system roots);
// the webhook secret is read from a file, never written in the
// configuration, and signs every body. Nothing a peer sends can make a
// sink buffer more than one page of the stream (tail.DefaultPage) or one
// batch.
//
// # Compatibility
//
// Event content is OCSF (package ocsf). The webhook body is
// {"events":[<OCSF event>...]} under package webhook's signature scheme.
// The syslog structured data's SD-ID and its param names, and the NATS
// subject layout, are part of the contract with SIEM parsers.
package siem

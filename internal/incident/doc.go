// Package incident turns detection findings into incidents and runs their
// response: lifecycle, notification clocks, escalation and containment
// (issue 22; docs/INCIDENTS.md is the operator's guide).
//
// The Manager implements detect.Reporter. A finding joins the newest
// unresolved incident of its subject (kind and id) when that incident's
// last finding is within the grouping window of it, and opens a new
// incident otherwise. Each incident carries notification clocks from the
// moment the gateway opened it (when it became aware): internal (15
// minutes for a safety-relevant finding, an hour otherwise), customer (an
// hour), a regulator early warning (24 hours, NIS2 art. 23(4)(a); may be
// turned off) and the regulator notification (72 hours). A clock is done
// when its notification is recorded (the internal one also when a person
// acknowledges or contains the incident); a clock that passes undone is
// escalated once: an incident_clock_overdue event and a notification
// record of channel "escalation".
//
// Lifecycle: open → acknowledged → contained → resolved. Containing an
// open incident acknowledges it; an open or acknowledged incident may be
// resolved directly with a reason (a false positive). Resolved is final.
//
// Retention (retention.go): a resolved incident is kept for
// incidents.retention (DefaultRetention, two years) from its resolution,
// then deleted with every row of it; an unresolved incident is never
// purged. A retention below MinRetention is refused here too, not only by
// configuration, so a resolved incident cannot be made to vanish within
// the hour. The incidents' events, which the audit log covers, are not
// purged, and each run that purged anything records one incidents_purged
// event.
//
// # Security model
//
// Incidents are operator-side: they are read and changed by operators and
// security admins (scopes incidents:read and incidents:write on the TMS
// listener), never by a carrier's TMS client, whatever its carrier; no
// carrier scoping applies. Every change carries its actor and is one
// security event (class incident). Containment really cuts off: a
// revocation goes through the CA (the path `fifthwheel pki revoke` takes,
// which closes live sessions within a second on every replica), a client
// suspension through the registry (its tokens stop within a second), and a
// command hold is checked by the store in the very transition that
// delivers a command, so a hold committed before a delivery always wins.
//
// The detect stream delivers findings at least once: a finding is stored
// once (its id is a primary key), so a re-delivery changes nothing. Races
// between replicas are decided by the store: transitions are conditional,
// and a clock is escalated by one replica only. Operator text (notes,
// reasons, recipients) is bounded (limits.go) and must be UTF-8 without
// control characters; finding text from detection is cut to the bounds,
// never refused, so a long runbook cannot stall the stream.
//
// # Compatibility
//
// States, clock kinds, action names and event codes are part of the API
// and the CLI's JSON output: new ones may be added, existing ones keep
// their meaning.
package incident

// Package detect is fifthwheel's detection engine: rules over the security
// event stream that turn patterns of events into findings (issue 22).
//
// A rule (rules.yaml, or the operator's detect.rules_file) names the reason
// codes, class, verdict and attributes of the events it counts, what it
// counts them per (vehicle, client, operator, actor, source, subject or
// the whole gateway), a sliding window and a threshold. When one key's
// events in the window reach the threshold, the rule fires: a Finding goes
// to the Reporter (the incident manager) and is recorded as a
// detection_finding event, which SIEM sinks export as an OCSF Detection
// Finding. docs/DETECTION.md describes the format and the shipped rules.
//
// The Detector is the stream consumer "detect" (package tail): it reads the
// store's event stream in commit order, so it sees every replica's events,
// one replica evaluates at a time, and it resumes after a restart where it
// stopped. It starts at the stream's head the first time (old events do not
// make findings now) and, whenever it (re)starts, replays the events of
// twice the longest window before its cursor through the rules without
// reporting, so a threshold that spans a restart still counts.
//
// Backtest (backtest.go) evaluates the stored stream with a rule set in a
// separate process (`fifthwheel detect backtest`) and acts on nothing: no
// event, no report, no cursor. With Deps.Metrics the Detector exports the
// events it evaluated, its findings by rule and the lag from an event's
// stored time to its finding's report (metrics.go).
//
// # Security model
//
// The engine reads only events the gateway stored, but those include
// events about peers that proved nothing (floods from hosts without a
// certificate), so its memory is bounded whatever they send (limits.go):
// a window is a fixed number of slot counters, the key table per rule and
// in all is bounded, idle keys are evicted, and when the table is full new
// keys count in the rule's overflow window ("*"), which fires like any
// other: a spray of sources is itself detected rather than evicting the
// windows that matter. Aggregated summaries count as the events they stand
// for, so aggregation does not hide a flood from detection.
//
// Delivery is at least once: a finding is recorded and reported before
// its event is committed to the windows, and a failure makes the stream
// deliver the event again, which makes the same finding with the same id
// (derived from the rule, the subject and the window's first event), so
// the incident manager de-duplicates on Finding.ID. A rule fires at most
// once per window and key (the key is quiet for a window after it fired),
// so a flood makes one finding per window, not one per event. Rules never
// see the engine's own events (class detection) or the incident manager's,
// so findings cannot feed rules.
//
// A rules file is validated fully before it is used: an invalid file is
// refused with every error named by file, line and path (rules[3].window),
// at start (the gateway does not start) and on reload (SIGHUP or a change
// of the file: the rule set in force stays, and detection_rules_refused is
// recorded).
//
// # Compatibility
//
// The rules file format may gain keys; existing keys keep their meaning. A
// Finding's fields are the contract with the incident manager; the
// detection_finding event's attributes may grow. The shipped rules change
// with releases: a test keeps them covering every code of the catalogue
// with a severity of low or above, or lists the code in Unwatched with the
// reason.
package detect

// Package tracking turns what trucks report about their loads into what
// the TMS reads (issue 20, "Tracking back to the TMS"): a vehicle's signed
// stop_event becomes a shipment status event in the spirit of an EDI 214,
// once it is checked against what the vehicle was told to carry.
//
// # Status mapping
//
// A stop event's status and the type of its stop (in the dispatch) give
// the EDI 214 shipment status code (AT7-01) recorded and shown to the TMS:
//
//	stop      arrived  loaded  departed  delivered
//	pickup    X3       CP      AF        (refused)
//	delivery  X1       (ref.)  CD        D1
//
// X3 arrived at pick-up location, CP completed loading at shipper
// location, AF carrier departed pick-up location with shipment, X1
// arrived at delivery location, CD carrier departed delivery location, D1
// completed unloading at delivery location (delivered).
//
// # Security model
//
// The stop event reaches this package only after the ingest pipeline has
// verified it like every vehicle frame (the session's key, counter,
// replay) and archived its frame row; its vehicle is the verified
// certificate's. What this package adds is that a vehicle reports only on
// loads it was given: the vehicle must have accepted a dispatch of the
// tender (its latest accepted dispatch names the TMS client whose tender
// it is), and the stop must be one of that dispatch's or of an accepted
// route update of the load after it. Anything else is refused with a
// stable code (stop_event_not_dispatched, stop_event_unknown_stop,
// stop_event_status_mismatch) and one event about the vehicle, and
// nothing is recorded for the TMS. A vehicle cannot report for another
// vehicle's load (the lookup is by the verified vehicle), nor write into
// another client's tender (the client comes from the dispatch, not the
// frame). Storage is bounded by the dispatches: one event per (vehicle,
// client, tender, stop, status), so a resend is recorded once.
//
// # Compatibility
//
// The 214 codes of the mapping above do not change once published; a new
// status gets a new row.
package tracking

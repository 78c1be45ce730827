// Package tmsapi is the TMS command API: load tenders (POST /v1/tenders),
// dispatches (POST /v1/dispatches), route updates (POST
// /v1/vehicles/{id}/route), and the commands they become (GET
// /v1/commands, GET /v1/commands/{id}, POST /v1/commands/{id}/approvals,
// POST /v1/commands/{id}/cancel). api/openapi.yaml is its contract. It
// turns HTTP requests into decisions of package command and answers with
// JSON or RFC 9457 problem+json; it never signs nor sends a command.
//
// # Security model
//
//   - Every route sits behind package authz's guard, which cmd/fifthwheel
//     puts in front: the guard checks the certificate-bound token, the
//     route's scope and the roles held now. Handlers read the guard's
//     Caller (authz.CallerFrom) and refuse without one (fail closed).
//   - Tenancy: a vehicle or command of another carrier answers 404
//     not_found exactly as an unknown one (Caller.MaySee), never 403;
//     lists are filtered by the caller's carrier in the store query. A
//     tender is its client's: another client (even of the same carrier)
//     cannot dispatch it.
//   - The risk policy and the approvals are package command's: a dispatch
//     is weighed by the tender's hazmat lines and gross weight as stored
//     (not as the dispatch restates them) and the caller's risk score
//     (Caller.Risk); the domain refuses an approval by the requester, a
//     second one by the same principal, or one by a principal who does not
//     hold the approver role now.
//   - Idempotency-Key is required on every POST (1 to MaxIdempotencyKeyLen
//     characters of [A-Za-z0-9._:~-]). The request's SHA-256 (method, path,
//     If-Match and body) is stored with the first successful response under
//     (caller, key): a retry with the same request gets that response again
//     (status and body, byte for byte, with Idempotent-Replayed: true) and
//     does nothing; the same key with another request is 409
//     idempotency_key_reused. Tenders and dispatches store the record in
//     the transaction that stores the tender or creates the command, so a
//     retry racing the original creates nothing twice; approvals and
//     cancels store it after the decision (a retry racing the original is
//     refused by the domain as a duplicate approval, or sees the command
//     already cancelled). Refusals are not stored: a retry is decided again.
//   - Strict decoding: a body must be application/json, at most
//     MaxBodyBytes, one JSON object without unknown or duplicate members
//     or invalid UTF-8; every array and string is bounded (limits.go). A
//     malformed tender is 400 tender_invalid, never a decline: a decline
//     is a business answer to a well-formed tender.
//   - Every refusal is one security event (the domain's, or this
//     package's class api event when the domain did not decide), and so is
//     every decision; nothing is changed by a refused request.
//
// # Tender answers
//
// A well-formed original is stored and answered accept or decline (EDI
// 990 in spirit) with reasons: respond_by_passed (respond_by is not in
// the future), no_carrier (the caller has no carrier), scac_mismatch (the
// tender's carrier SCAC is not the caller's carrier's: a carrier's SCAC is
// its carrier id in upper case). An original with a stored id is 409
// tender_conflict.
//
// A change or a cancel acts on the client's stored tender of the same id
// (EDI 204 purpose 04 and 01). Tenders are their client's: a change or
// cancel of another client's or carrier's tender is 404 not_found,
// exactly as one of an id never sent (it once was a decline with reason
// unknown_tender, a reason no longer given and never reused).
//
//   - A change replaces the tender with its next revision (the replaced
//     one is kept, store.TenderRevisions) and is answered by the rules of
//     an original, as long as no command was made from the tender. Once
//     one was, the change is 409 tender_change_after_dispatch: the load's
//     content reached, or is on its way to, a truck, and only a cancel and
//     a new tender, or a route update, can change what the truck does. The
//     store decides a change racing a dispatch once (store.ErrTenderDispatched,
//     store.ErrTenderChanged): a truck never gets a superseded revision.
//   - A cancel marks the tender cancelled (it is never dispatched or
//     changed after) and cancels each of its commands not yet delivered
//     through package command's Cancel, the caller as the actor. Of a
//     cancel racing a delivery the store's conditional transition decides
//     once; a command delivered or executed is reported as it is
//     (command_in_progress, possibly_executed), never as undone: the load
//     is in progress and is handled operationally. A cancel of a cancelled
//     tender answers already_cancelled (200) and cancels what an
//     interrupted first cancel left.
//
// # Route revisions
//
// A vehicle's route revision is that of its current route: the latest
// dispatch (revision 1) or route update (its revision) of the vehicle
// that was not cancelled, expired or rejected. A route update names the
// revision it replaces in If-Match ("3"); 428 without one, 412 when it is
// not the current one, and the update gets the next revision (its ETag).
//
// # Compatibility
//
// Member names, answer values and reason strings are part of the TMS API
// (api/openapi.yaml): they are never renamed or reused; new optional
// members may be added to answers, never to requests' required set.
package tmsapi

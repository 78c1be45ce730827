// Package ingest is the telemetry verification pipeline and the telemetry
// archive's read side.
//
// Every frame passes four stages, in this order (pipeline.go: Process runs
// them as the methods of the same names; admission itself is in admit.go):
//
//	admit   decode → identity → kind → bound kid → registry status → key under kid → retired key
//	flow    the call's admitted telemetry takes its slots in flight, or the call is refused (ErrBusy)
//	verify  alg → signature (Ed25519 batched)
//	dedupe  de-duplication → freshness → plausibility
//	commit  counter check and durable append with its verdict and findings (one atomic step) → ack,
//	        then the stored frame is counted in its vehicle's summary
//	etas    the eta of accepted telemetry (stored now or a duplicate) becomes its vehicle's
//	        latest ETA for the load (Deps.ETAs), before the results are returned
//
// The pipeline is the one place the session's telemetry and the batch
// path's meet, so it is where telemetry's ETA is kept: a failure to keep it
// fails the call (the frames are durable; the retry is answered as
// duplicates and keeps the ETA). An ETA is taken as the vehicle's claim,
// not checked against its dispatches (the TMS is shown only the ETA of the
// vehicle its tender was dispatched to), and the store bounds how many a
// vehicle keeps.
//
// The session handshake checks hello and challenge_response through
// Authenticate: admit, verify and the live freshness check, the same code
// as every other frame takes, without storing anything.
//
// # Security model
//
//   - Identity comes only from the peer's verified certificate: the frame's
//     vehicle_id must equal it, or the frame is refused (vehicle_mismatch).
//   - The signing key is looked up by (vehicle, kid) among that vehicle's
//     registered keys only; a key of another vehicle never verifies. Retired
//     keys refuse. The envelope's alg must equal the registered key's alg.
//     Keys and vehicle statuses are cached, on every path, the handshake's
//     included, and a suspension or a retirement made through any process
//     or replica stops frames within KeyCacheTTL (limits.go): an entry is
//     kept past KeyCacheTTL only while the cache follows the store's
//     registry change feed (keyfeed.go, RunKeyFeed), which drops the
//     vehicles that changed; if the feed cannot be read, or has a gap, the
//     cache falls back to re-reading entries older than KeyCacheTTL, or is
//     dropped (fail closed). An unknown vehicle or kid is never cached.
//   - The signature covers the exact received frame bytes, which package
//     frame has already checked to be RFC 8785 canonical.
//   - An exact re-send of an accepted frame (same vehicle, epoch, seq and
//     bytes, valid signature) is answered accepted with duplicate=true and
//     not stored again, whatever its age. The same (vehicle, epoch, seq)
//     with other bytes is a replay and refused. Hence de-duplication sits
//     after the signature and before freshness.
//   - Live frames must be within ±ClockSkew of gateway time. Backfill frames
//     may be older, never in the future beyond the skew, and must still be
//     strictly newer than the last accepted frame: the counter check and the
//     append are one atomic step in the store, so no (vehicle, epoch, seq) is
//     stored twice by any replica (invariant 3, docs/ARCHITECTURE.md).
//   - The epoch moves forward only through store.AdvanceEpoch, an audited
//     operator action; a frame in a later epoch is refused.
//   - Plausibility findings never refuse an authentic frame; they are kept
//     with it and raised as finding events. The thresholds and the fleet's
//     operating area are the gateway's configuration (plausibility.*); with
//     no area, outside_operating_area never fires. Plausibility reads the
//     schema's members only, never a telemetry frame's ext, which is stored
//     and returned by the read API byte for byte (no HTML escaping; served
//     with nosniff) and otherwise not interpreted.
//   - Results are returned only after AppendFrames has made the frames and
//     their verdicts durable (invariant 4). If the store cannot answer, the
//     whole call fails and nothing is acknowledged (fail closed).
//   - Every refusal and every duplicate emits exactly one event; each
//     plausibility finding emits one more, committed in its frame's
//     transaction. An accepted frame is recorded by its frame row, not by an
//     event (invariant 7): the frames stored for a vehicle are summarized in
//     one frames_accepted_summary event per vehicle and
//     Config.SummaryInterval (summary.go: counts by kind, source and
//     assurance, those with findings, the first and last (epoch, seq) and
//     frame times), and counted per frame in fifthwheel_frames_total. The
//     summaries are held in memory, one tally per vehicle with frames in
//     the interval (bounded by the registry: vehicles are authenticated),
//     and recorded at each interval's end and by Close. A summary not yet
//     recorded is lost on a crash; the frame rows remain the record.
//   - Flow control (flow.go): at most Config.MaxInFlight telemetry frames
//     are admitted and not yet committed, over every path. A call whose
//     telemetry does not fit is refused whole with ErrBusy (the batch path
//     answers 429 gateway_busy with Retry-After, the session nacks
//     gateway_busy) after admission and before any signature is checked:
//     nothing is decided, nothing stored, and the batch path gives the
//     vehicle's rate budget back. Heartbeats never take a slot and are
//     never refused by it: when the gateway is saturated, telemetry yields,
//     never liveness. Such refusals are recorded per vehicle and window
//     (the first at once, the rest in one summary), not one event each.
//   - A batch body is refused as a whole only when it cannot be read as a
//     batch (content type, size, I-JSON, nesting beyond MaxBatchDepth,
//     frame count); reading stops at the first level too deep.
//   - HS256 secrets are stored only sealed (secrets.go) and opened only in
//     memory to verify; a secret that does not open fails the call closed.
//   - Retention (retention.go): payloads (frame bytes and signature) older
//     than the retention are purged in bounded store calls, behind
//     heartbeats and live telemetry; each frame keeps its hash, so an exact
//     re-send of a purged frame is still a duplicate and any other bytes at
//     its (epoch, seq) still a replay. The read API never returns a purged
//     payload as the frame: the views say purged_at, the raw route answers
//     410 frame_purged. Each run records one frames_purged event.
//
// # Compatibility
//
// Reason codes are stable and listed in docs/PROTOCOL.md; they are package
// frame's codes plus the admission's, batch path's and plausibility's of
// package codes, the one catalogue.
package ingest

// Package liveness is the gateway's side of comm-loss detection: a deadline
// per vehicle, a φ-accrual suspicion level, the fleet state the TMS reads,
// and one event per change of state.
//
// # States and rules
//
// A vehicle is online, suspect, comm_lost, safe_state or offline. The
// session layer tells the Monitor four things: a session became ready
// (Connected, after the signed challenge), a verified heartbeat arrived
// (Session.Heartbeat, with the state the vehicle reports), a verified frame
// reported safe_state (Session.SafeState), and the connection ended
// (Session.Disconnected, with how). The Monitor's clock does the rest.
//
//   - The deadline is the latest proof of life (heartbeat or handshake) +
//     Misses × Interval (3 s by default). When it passes, the vehicle is
//     comm_lost. The outcome depends only on timestamps: a heartbeat or a
//     reconnect stamped after the deadline finds comm_lost declared even if
//     no tick has run yet, and one stamped at or before it keeps the vehicle.
//   - Suspect is the early warning, left only by a heartbeat or a handshake.
//     It is declared when φ reaches PhiSuspect (8 by default), but never
//     before one interval of silence and always by Misses−1 intervals: with
//     the defaults, between 1 s and 2 s of silence, so every vehicle gets at
//     least one interval of warning before comm_lost, and a vehicle with
//     erratic heartbeats is neither suspected constantly nor never. Because
//     φ(t) is monotonic, its crossing time is computed once per heartbeat
//     (μ + y*·σ, y* solved from the threshold at start) and scheduled like
//     the deadline: no vehicle is scanned to evaluate φ.
//   - Online and safe_state are what a reachable vehicle reports: safe_state
//     while it says so, online otherwise. A suspect or reconnecting vehicle
//     returns to whichever it last reported.
//   - Offline is a deliberate end: the vehicle said goodbye, or the gateway
//     closed the session (policy; its certificate revoked or the vehicle
//     suspended, which the offline event's cause names: "revoked",
//     "suspended"). No deadline runs: a revoked or suspended truck is not
//     declared comm_lost.
//   - A transport disconnect (reset, timeout, close without goodbye) is not
//     offline. From the gateway, a cut link looks exactly like that, and
//     calling it offline would hide the comm loss the TMS must see. The
//     vehicle keeps its state and its deadline, and is comm_lost when the
//     deadline passes unless it reconnects first; a reconnect inside the
//     deadline is no transition at all, so a flapping cellular link produces
//     no event storm.
//   - After comm_lost the session is dead: its Done channel closes and its
//     calls return ErrCommLost, late heartbeats included. Only a new
//     handshake (Connected) brings the vehicle back. By then the truck has,
//     by the same rule on its side, begun stopping in its safe state; a
//     heartbeat that limps in on the old connection proves the link is
//     unusable, and reviving it would make the state flap between comm_lost
//     and online and let commands flow on a session whose context is stale.
//     A handshake re-establishes a fresh challenge and sequence, and the
//     command layer delivers what it queued after that.
//   - Every call is fenced by its Session: a connection that was superseded
//     by a reconnect (or ended otherwise) can neither heartbeat nor take the
//     vehicle offline.
//
// # Scale
//
// Vehicles live in 32 independently locked shards, each a slab of
// fixed-size records (a few hundred bytes per vehicle including its Session,
// measured by TestMemoryPerVehicle) and a hashed timer wheel with one slot
// per Tick (50 ms) spanning the longest deadline. A heartbeat is O(1) with
// no allocation (it moves the record to another slot); a tick walks only the
// slots that came due; no vehicle has a goroutine or a timer. Run uses two
// goroutines in all: the ticker and the deliverer.
//
// # Events and observers
//
// Every transition emits exactly one event (class liveness, activity
// transition, codes of package codes) with the last heartbeat, the deadline, φ and,
// for suspect and comm_lost, the detection latency (declared − deadline, or −
// φ's crossing). Transitions are queued in order under the lock that made
// them and delivered by one goroutine, to OnTransition then to the Emitter in
// batches, so a slow sink never delays detection. The queue is bounded; on
// overflow the newest transitions are not delivered, and never silently:
// each is counted (Metrics.Undelivered), the count is logged, and a
// liveness_events_dropped event records it. The fleet state, Counts and
// Session.Done are exact regardless.
//
// # Security model
//
// Only verified input extends liveness: the session layer calls Connected
// after the handshake's signed challenge and Heartbeat after a heartbeat
// frame passed signature, sequence and freshness checks. Vehicle ids are
// principal ids taken from the verified certificate chain. The Monitor fails
// closed: a vehicle beyond MaxVehicles is refused (ErrVehicleLimit) rather
// than admitted unwatched, and an unknown disconnect reason is treated as a
// transport failure, which keeps the deadline. The Monitor is in memory and
// per replica: after a restart, vehicles reappear as they reconnect.
//
// # Compatibility
//
// State names, event codes, attribute names and causes are stable: a change
// a SIEM rule or a TMS could notice gets a new name rather than a new
// meaning.
package liveness

// Package sim simulates trucks (and, later, a TMS) for the demo, the drills
// and load tests: `fifthwheel sim fleet`, `fifthwheel sim load` and
// `fifthwheel sim access`.
//
// A Fleet drives N trucks against a running gateway. Each truck is a real
// agent.Agent (the public vehicle SDK, nothing else: if the simulator needs
// something the SDK lacks, the SDK grows it, so what is tested is what
// customers embed) with its own certificate and TLS key and a separate
// Ed25519 frame key, and a kinematic model behind the agent's SafeStater
// (truck.go, kinematics.go): it cruises along a route, stops at −2.5 m/s²
// with a jerk limit when the agent starts the minimal-risk maneuver
// (about 11 s from 25 m/s), reports safe_state once at a standstill, and
// drives on only when the agent passes on the gateway's signed resume.
// Telemetry is sampled from noisy sensors at Config.TelemetryRate.
//
// # Credentials
//
// A Provisioner gives each truck its credentials. EnrollProvisioner does it
// the way a real truck is brought up: a join token from the fleet CA, then
// agent.Enroll (POST /v1/pki/enroll) with a CSR and the frame key, which the
// gateway registers in the same request. CachedProvisioner keeps the result
// in the state directory so a fleet is enrolled once.
//
// # Faults
//
// Faults apply to fractions of the fleet (FaultGroup). Link faults wrap the
// agent's TCP connections through Deps.DialContext and model TCP as a truck
// sees it (link.go): latency and jitter, loss as retransmission delay, a
// silent blackout, a flapping carrier. Sensor faults (GNSS jump, wheel/GNSS
// speed disagreement) and clock skew act on the truck. Fault times count
// from the scenario's start: the moment every truck is driving.
//
// # Figures
//
// The report (report.go) holds the vehicle-side figures the agents measured
// and, given the gateway's event store (Deps.Events), the gateway-side
// figures from the gateway's own events: comm_lost detection latency, false
// comm_lost declarations, blackouts the gateway missed. Each SLA figure is
// checked against its limit (limits.go). A row the configured faults
// should have filled and that has no samples fails ("no data: ..."); one
// whose kind of fault was not configured is n/a. Report.CheckFailures
// adds a scenario that never started and trucks not driving when it did.
// Config.ScenarioProblems names the faults a scenario cannot show (before
// it runs); New refuses those that cannot happen at all. The trucks' AV
// stacks count their runs per command id (commands.go): a command run
// again, which the agent's executed-command log exists to prevent however
// often the gateway redelivers across reconnects, is reported
// (Vehicle.DuplicateExecutions) and fails the check too.
//
// # Sustained ingest (Load)
//
// A Load (load.go) is the measuring instrument of durable ingest: N
// enrolled vehicles (the same Provisioner and state directory as the
// fleet's, so a vehicle enrolled by one runner works for the other and
// shares its frame counter) post telemetry batches to the batch path,
// each over its own mutual-TLS HTTP/2 connection, one batch in flight per
// vehicle so its frames arrive in seq order. Every frame is new: the next
// seq of the vehicle's agent.Counter, ts = the moment it is signed, right
// before its POST. Before the load it measures the one-core Ed25519 verify
// rate in the same process (the ceiling); its report (loadreport.go)
// accounts for every frame sent exactly once (accepted, rejected by reason
// code, or failed with its request, 429s included), and gives the
// gateway's CPU from /proc/PID/stat and this process's own, signing apart.
// With ReplayEvery, each vehicle also replays one of its accepted frames
// (same (epoch, seq), other bytes, validly signed) after every ReplayEvery
// accepted frames: the security events the detection benchmark needs. The
// report counts them apart, and the check fails on any replay the gateway
// did not refuse replay.
//
// # TMS access (Access)
//
// An Access (access.go) measures the TMS listener's access control as TMS
// clients meet it: N registered TMS clients (an AccessProvisioner registers
// them with a carrier and roles and issues their certificates), each on its
// own mutual-TLS HTTP/2 connection, POST /oauth2/token over and over, or
// GET vehicle states with their certificate-bound token (the guard's cached
// path), optionally with a new token every K reads (its signature-verifying
// path). It talks to the gateway only over the network. Its report gives
// the rates and latencies, refusals by status and problem code (any but a
// 429 fails the run), the same ceiling measured before and after the run,
// and the gateway's CPU per answered request.
//
// # Security model
//
// None of its own: the simulator is a client like any truck, holding
// credentials issued by the gateway's fleet CA and signing with keys it
// generates. Its state directory holds those private keys unencrypted (mode
// 0600): use it only for simulated trucks. Minting join tokens needs the CA
// (the gateway's data directory and KEK), as `fifthwheel pki join-token`
// does.
//
// # Compatibility
//
// The reports' JSON members (Report, LoadReport, AccessReport) and the SLA names are read
// by scripts and CI; new members may be added, existing ones keep their
// meaning.
package sim

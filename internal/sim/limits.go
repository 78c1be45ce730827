package sim

import "time"

// Defaults and bounds of the simulator, in one place. Each default is a
// Config field too.

// Fleet.
const (
	// MaxVehicles bounds one runner. Each connected truck holds one socket
	// (two while it backfills through the batch path); the runner checks
	// the open-files limit against the fleet size before it starts.
	MaxVehicles = 50_000

	// DefaultConnectRate starts this many trucks a second, so TLS and
	// session handshakes and enrollments arrive as a ramp (10 s for 1,000),
	// not a storm. At 200 a second, 1,000 trucks with 200 ms of jitter on a
	// 2-core machine shared with the gateway stopped 143 trucks during the
	// ramp in one run of three (heartbeat acks late while the gateway
	// shook hands); at 100, none (docs/PERFORMANCE.md).
	DefaultConnectRate = 100.0
	// MaxConnectRate bounds the ramp.
	MaxConnectRate = 5000.0

	// DefaultProvisionWorkers enroll this many trucks at once: enough to
	// fill the gateway's group commit, few enough not to starve its
	// sessions.
	DefaultProvisionWorkers = 16

	// DefaultReadyTimeout bounds the wait, after the last truck was started,
	// for every truck to be driving (resumed by the gateway) before the
	// scenario clock starts anyway.
	DefaultReadyTimeout = 60 * time.Second

	// readySkewLimit: a truck whose clock is off by this much or more is
	// refused by the gateway (docs/ARCHITECTURE.md, Defaults: live clock skew ±5 s), so the
	// runner does not wait for it to drive.
	readySkewLimit = 5 * time.Second

	// DefaultSummaryEvery is the live summary's period.
	DefaultSummaryEvery = 5 * time.Second

	// DefaultIDPrefix names the trucks: sim-00000, sim-00001, ...
	DefaultIDPrefix = "sim"

	// maxDuplicateIDsKept bounds the command ids a truck keeps of the
	// commands its AV stack ran more than once (the report names them; the
	// count is exact).
	maxDuplicateIDsKept = 20

	// stopAgentsTimeout bounds the agents' goodbye at the end of a run.
	stopAgentsTimeout = 30 * time.Second
	// eventSettleMin, eventQuiet and eventSettleMax: after the agents
	// stopped, the runner reads the gateway's events until none has come
	// for eventQuiet (but for at least eventSettleMin, at most
	// eventSettleMax): the liveness monitor and the session layer record
	// them asynchronously, usually within milliseconds.
	eventSettleMin = 500 * time.Millisecond
	eventQuiet     = 500 * time.Millisecond
	eventSettleMax = 10 * time.Second
	// fdsPerVehicle and fdsSpare size the open-files check: one session
	// socket per truck, and room for the store, logs, enrollment and the
	// trucks that backfill through the batch path after an outage (a second
	// socket each, for a while). 10,000 trucks fit the 20,000 limit of
	// these machines with the gateway in another process.
	fdsPerVehicle = 1
	fdsSpare      = 1024
)

// Trucks and sensors.
const (
	// DefaultTelemetryRate is telemetry frames per truck per second.
	DefaultTelemetryRate = 1.0
	// MaxTelemetryRate bounds it (the agent's offline buffer is sized for
	// 10 Hz).
	MaxTelemetryRate = 10.0

	// DefaultCruise is the cruise speed, m/s (90 km/h): the safe-state
	// budget (docs/ARCHITECTURE.md, Defaults) is stated from 25 m/s.
	DefaultCruise = 25.0

	// kinematicsStep is the integration step of the truck model. The model
	// is advanced lazily (when the agent polls Stopped, or a sample is
	// taken) in steps of at most this.
	kinematicsStep = 50 * time.Millisecond

	// Sensor noise of a healthy truck: GNSS position σ (m), GNSS speed σ
	// (m/s), wheel-speed relative σ. Far below the gateway's plausibility
	// thresholds (20 % speed disagreement, 60 m/s implied speed).
	gnssPosSigma   = 2.0
	gnssSpeedSigma = 0.1
	wheelRelSigma  = 0.005

	// gnssJumpDeg is the GNSS position jump fault: 0.05° of latitude, about
	// 5.6 km, i.e. an implied speed far above 60 m/s between two fixes.
	gnssJumpDeg = 0.05
	// speedFaultWheelFactor is the wheel/GNSS disagreement fault: the wheel
	// speed reads 60 % of the truth (40 % disagreement, over the 20 %
	// threshold).
	speedFaultWheelFactor = 0.6

	// routeSegments and routeSegmentM shape each truck's route: long
	// enough (300 km) that no run loops it (a loop would look like a jump).
	routeSegments = 3
	routeSegmentM = 100_000.0
)

// Link model.
const (
	// tcpMinRTO is the first retransmission timeout after a lost segment
	// (Linux's minimum RTO); it doubles for each further loss of the same
	// segment, up to tcpMaxRTO.
	tcpMinRTO = 200 * time.Millisecond
	tcpMaxRTO = 60 * time.Second

	// maxUplinkBytes bounds what a simulated socket buffers on the way to
	// the gateway (a kernel send buffer): beyond it, writes block, as they
	// would on a stalled TCP connection.
	maxUplinkBytes = 256 << 10
	// maxDownlinkBytes bounds what it holds on the way to the truck.
	maxDownlinkBytes = 1 << 20
	// closeLinger bounds how long a closed connection keeps delivering
	// what was written before the close (a goodbye, a TLS close_notify).
	closeLinger = 5 * time.Second
	// zombieMax bounds how long the socket of a connection killed by a
	// carrier loss stays open, silent, after the truck saw it reset: the
	// gateway normally closes it after its own idle timeout, long before.
	zombieMax = 2 * time.Minute
)

// SLA figures the report checks (docs/ARCHITECTURE.md, Defaults; issue 5).
const (
	// SafeStateSLA: the truck is in safe_state within 15 s of its last
	// answered heartbeat, from 25 m/s.
	SafeStateSLA = 15 * time.Second
	// DetectionSLAExtra: the gateway declares comm_lost within
	// interval × misses + 200 ms of the last heartbeat (p99).
	DetectionSLAExtra = 200 * time.Millisecond
	// cruiseTolerance: a stop counts for the SLA figure "from 25 m/s" when
	// it began within this fraction of the cruise speed.
	cruiseTolerance = 0.02
	// outageSlack: a comm_lost declared up to interval × misses plus this
	// after an outage ended is that outage's; any other is false.
	outageSlack = time.Second
)

// Load generator (`fifthwheel sim load`, load.go).
const (
	// DefaultLoadPrefix names the load generator's vehicles load-00000, ...:
	// apart from the fleet's (sim-…), so both can run at once without two
	// processes drawing on one vehicle's frame counter. --prefix sim reuses
	// the fleet's trucks (not while the fleet runs).
	DefaultLoadPrefix = "load"

	// DefaultLoadBatch is frames per POST: what a truck's backfill sends
	// and what the issue-17 measurements used. MaxLoadBatch is the
	// gateway's own limit (ingest.MaxBatchFrames, docs/PROTOCOL.md).
	DefaultLoadBatch = 64
	MaxLoadBatch     = 256

	// DefaultLoadWarmup is left out of the sustained figures: TLS
	// handshakes, the gateway's key cache and the first WAL growth.
	DefaultLoadWarmup = 5 * time.Second

	// DefaultCalibrateFor is how long the one-core Ed25519 verify rate is
	// measured before the load starts: long enough for a stable figure
	// (≈56,000 verifications at ~36 µs), short next to a run.
	DefaultCalibrateFor = 2 * time.Second
	// signCalibrateFor measures the one-core signing cost the same way,
	// to estimate the load generator's own signing CPU.
	signCalibrateFor = 500 * time.Millisecond

	// loadRequestTimeout bounds one POST (handshake included): a gateway
	// that does not answer in this time has failed the request.
	loadRequestTimeout = 30 * time.Second

	// maxRetryAfter caps how long a vehicle honours a 429's Retry-After.
	maxRetryAfter = 10 * time.Second

	// maxLatencySamples bounds the kept batch latencies (8 MiB); beyond it
	// the report says the distribution covers the first ones only.
	maxLatencySamples = 1 << 20

	// maxFailureKeys bounds the distinct failure and rejection reasons
	// the report keeps; more are counted under "other".
	maxFailureKeys = 64

	// clockTicks is the unit of utime and stime in /proc/PID/stat: Linux's
	// USER_HZ, fixed at 100 by the kernel's user ABI on every architecture
	// Go supports.
	clockTicks = 100
)

// TMS access driver (`fifthwheel sim access`, access.go).
const (
	// DefaultAccessPrefix names the driver's TMS clients access-c00000, …
	// and its vehicles access-v00000, …
	DefaultAccessPrefix = "access"
	// DefaultAccessCarrier is the carrier of the driver's clients and
	// vehicles.
	DefaultAccessCarrier = "sim-access"
	// MaxAccessClients and MaxAccessVehicles bound one run: each client
	// holds one connection (and, with --fresh-token-every, mints tokens).
	MaxAccessClients  = 1_000
	MaxAccessVehicles = 10_000
	// accessRenewBefore: a reads client fetches a new token this long
	// before its token expires (the gateway allows 30 s of leeway; a token
	// is never used near its end).
	accessRenewBefore = 30 * time.Second
	// maxAccessBody bounds the answer read from the gateway (a token
	// response or a vehicle's state is well under 4 KiB).
	maxAccessBody = 64 << 10
)

// Tracking (commands.go).
const (
	// StopEventInterval is the compressed pace at which a truck that
	// accepted a dispatch reports its stops: one stop event every 1.5 s
	// (a real truck takes hours), so a sim run sees a load tracked from
	// pickup to delivery within seconds.
	StopEventInterval = 1500 * time.Millisecond

	// stopReportTimeout bounds one ReportStop (its answer may wait for a
	// reconnect): beyond it the report counts as not answered.
	stopReportTimeout = 30 * time.Second
)

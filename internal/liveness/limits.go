package liveness

import "time"

// Heartbeat timing (Config.Interval and Config.Misses) is the protocol's,
// declared once in package agent (agent.DefaultHeartbeatInterval,
// agent.MinHeartbeatInterval … agent.MaxMisses): a zero Config field takes
// the agent's default and Config validation enforces the agent's bounds, so
// the truck's watchdog counts the same misses as the gateway. The gateway
// passes its heartbeat.interval and heartbeat.misses (internal/config),
// which refer to the same constants.

// Timer wheel.
const (
	// DefaultTick is the wheel's resolution and the Run loop's period. The
	// detection budget is p99 ≤ Interval × Misses + 200 ms: a deadline is
	// declared at the first tick after it passes, so the wheel spends at
	// most one tick (50 ms) of the 200 ms and leaves 150 ms for scheduling
	// delay, GC pauses and a loaded machine. A finer tick buys accuracy
	// nobody needs and wakes the loop more often (each tick locks and walks
	// every shard); a coarser one eats the slack.
	DefaultTick = 50 * time.Millisecond
	// MinTick: below 5 ms the loop's wake-ups cost more than they buy.
	MinTick = 5 * time.Millisecond
	// MaxTick: half the 200 ms budget; beyond it a stalled tick alone would
	// break the SLA.
	MaxTick = 100 * time.Millisecond
)

// Phi-accrual suspicion (Hayashibara et al., "The φ Accrual Failure
// Detector", 2004), with the logistic approximation of the normal
// distribution Akka uses.
const (
	// DefaultPhiSuspect: φ = 8 means the current silence would occur by
	// chance about once in 10^8 heartbeats under the vehicle's learned
	// inter-arrival distribution (Akka's and Cassandra's default).
	DefaultPhiSuspect = 8.0
	// MinPhiSuspect and MaxPhiSuspect: below 1 (a 1-in-10 event) suspicion
	// is noise; above 16 the deadline clamp always wins and φ says nothing.
	MinPhiSuspect = 1.0
	MaxPhiSuspect = 16.0

	// DefaultPhiWindow is the effective number of inter-arrival samples in
	// the exponentially weighted mean and variance (α = 2/(N+1)). 100
	// samples, about 100 s at 1 s, average out cellular jitter yet follow a
	// link that changes (a tunnel, a cell handover) within minutes. An
	// exponentially weighted window keeps 8 bytes per vehicle instead of a
	// 100-sample ring.
	DefaultPhiWindow = 100
	// MinPhiWindow and MaxPhiWindow: fewer than 10 samples make the variance
	// estimate noise; more than 10,000 (hours) never adapts.
	MinPhiWindow = 10
	MaxPhiWindow = 10000

	// DefaultMinStdDev floors the learned standard deviation, so a truck
	// whose heartbeats arrive like clockwork is not suspected for a few
	// hundred milliseconds of lateness: with 100 ms and φ = 8 suspicion
	// needs more than ~520 ms of lateness (Akka's default).
	DefaultMinStdDev = 100 * time.Millisecond
	// MinMinStdDev and MaxMinStdDev bound the floor: under 10 ms is below
	// the gateway's own scheduling noise; over 1 s would make φ meaningless
	// against a 1 s interval.
	MinMinStdDev = 10 * time.Millisecond
	MaxMinStdDev = time.Second
)

// Capacity.
const (
	// DefaultMaxVehicles bounds the monitor's memory (a few hundred bytes
	// per vehicle, measured in scale_test.go) at 2.5× the 100,000 vehicles
	// a gateway is sized for. Connected refuses a vehicle beyond it: a
	// vehicle whose loss of contact could not be detected is not let in.
	DefaultMaxVehicles = 250_000
	// MaxMaxVehicles: beyond ten million a single gateway is the wrong
	// design.
	MaxMaxVehicles = 10_000_000

	// DefaultQueueSize bounds the transitions waiting for observers and the
	// event Emitter. 262,144 holds a whole 100,000-vehicle fleet going
	// suspect and then comm_lost (a partition on the gateway's side) with
	// room to spare; at ~130 bytes a transition that is ~34 MB, used only
	// while the queue is that full.
	DefaultQueueSize = 1 << 18
	// MinQueueSize and MaxQueueSize: under 1,024 a burst of reconnects
	// overflows it; over 4M transitions is half a gigabyte.
	MinQueueSize = 1 << 10
	MaxQueueSize = 1 << 22
)

// Event delivery.
const (
	// EmitTimeout bounds one Emit call from the dispatcher, so a hung sink
	// stalls event delivery (and fills the queue, which is counted) but
	// never forever.
	EmitTimeout = 2 * time.Second
	// FlushTimeout bounds the final delivery of queued transitions when Run
	// stops.
	FlushTimeout = 2 * time.Second
)

const (
	// shardCount splits vehicles over independently locked shards, each
	// with its own wheel: heartbeats on different shards never contend, and
	// a tick that declares a whole fleet lost holds any one lock for 1/32 of
	// the work. 32 is well above the core counts the gateway runs on and
	// costs 32 lock round trips per tick.
	shardCount = 32
	// emitBatch is the number of events per Emit call: the store sink
	// writes a batch in one group commit.
	emitBatch = 256
	// recycleCap: queue buffers up to this capacity are reused; larger ones
	// (after a storm) are left to the garbage collector.
	recycleCap = 4096
)

// The read API's pages.
const (
	// DefaultVehiclePage and MaxVehiclePage: GET /v1/vehicles answers this
	// many vehicles per page by default, at most the maximum (?limit=).
	DefaultVehiclePage = 100
	MaxVehiclePage     = 1000
	// MaxFleetVehicles bounds GET /v1/fleet/state's answer: one carrier's
	// fleet, or an operator's view of a large one, in one document.
	MaxFleetVehicles = 100_000
)

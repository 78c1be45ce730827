package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// CounterFile is the name of the counter's file in Config.StateDir.
const CounterFile = "counter.json"

// ErrCounterExhausted reports that the epoch's sequence numbers are used
// up (2^53): an operator must authorize a new epoch.
var ErrCounterExhausted = errors.New("agent: sequence numbers exhausted; an operator must authorize a new epoch")

// Counter is the vehicle's frame sequence: every frame the agent signs
// (telemetry, heartbeat, hello, challenge_response) gets the next (epoch,
// seq), strictly increasing, across restarts and crashes.
//
// It persists with write-ahead reservation: before a seq is used, the file
// records a reservation above it (written to a temporary file, fsync'd,
// renamed over the old one, and the directory fsync'd). After a restart or
// a crash the counter continues at the reservation, skipping at most
// seqBlock unused numbers and never reusing one. The file:
//
//	{"epoch":0,"reserved":4096,"v":1,"vehicle_id":"truck-0042"}
//
// The epoch changes only when an operator authorizes a new one at the
// gateway (which then accepts that epoch from seq 0) and sets
// Config.Epoch to it: a Config.Epoch above the file's starts the new epoch
// at seq 0; a lower one is ignored. Deleting the file restarts the epoch at
// seq 0, which the gateway refuses as stale until an operator authorizes a
// new epoch: the truck fails safe (its heartbeats go unanswered) rather
// than reusing numbers. One agent uses one state directory.
type Counter struct {
	mu       sync.Mutex
	path     string
	vehicle  string
	epoch    uint64
	next     uint64
	reserved uint64
}

type counterFile struct {
	V         int    `json:"v"`
	VehicleID string `json:"vehicle_id"`
	Epoch     uint64 `json:"epoch"`
	Reserved  uint64 `json:"reserved"`
}

// OpenCounter opens (or starts) the counter of vehicleID in dir, with
// epoch the operator-authorized epoch (0 for a new vehicle).
func OpenCounter(dir, vehicleID string, epoch uint64) (*Counter, error) {
	if dir == "" {
		return nil, errors.New("agent: the counter needs a state directory")
	}
	if epoch > maxSafeInteger {
		return nil, errors.New("agent: epoch is above 2^53-1")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	c := &Counter{path: filepath.Join(dir, CounterFile), vehicle: vehicleID, epoch: epoch}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("agent: read counter: %w", err)
	}
	var f counterFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || dec.More() || f.V != 1 {
		// Never guess: a counter that cannot be read exactly could reuse
		// sequence numbers.
		return nil, fmt.Errorf("agent: counter file %s is corrupt; restore it or have an operator authorize a new epoch", c.path)
	}
	if f.VehicleID != vehicleID {
		return nil, fmt.Errorf("agent: counter file %s belongs to vehicle %q, not %q", c.path, f.VehicleID, vehicleID)
	}
	if f.Epoch > maxSafeInteger || f.Reserved > maxSafeInteger+1 {
		return nil, fmt.Errorf("agent: counter file %s is out of range", c.path)
	}
	if epoch <= f.Epoch {
		c.epoch, c.next, c.reserved = f.Epoch, f.Reserved, f.Reserved
	}
	return c, nil
}

// Next returns the next (epoch, seq), reserving a new block on disk first
// when the current one is used up.
func (c *Counter) Next() (epoch, seq uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next > maxSafeInteger {
		return 0, 0, ErrCounterExhausted
	}
	if c.next >= c.reserved {
		r := min(c.next+seqBlock, maxSafeInteger+1)
		if err := c.write(r); err != nil {
			return 0, 0, err
		}
		c.reserved = r
	}
	seq = c.next
	c.next++
	return c.epoch, seq, nil
}

// Epoch returns the epoch in use.
func (c *Counter) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *Counter) write(reserved uint64) error {
	b, err := json.Marshal(counterFile{V: 1, VehicleID: c.vehicle, Epoch: c.epoch, Reserved: reserved})
	if err != nil {
		return err
	}
	if err := writeFileSync(c.path, b, 0o600); err != nil {
		return fmt.Errorf("agent: reserve sequence numbers: %w", err)
	}
	return nil
}

// writeFileSync replaces path with data durably: a temporary file in the
// same directory, fsync, rename, fsync of the directory. The gateway has the
// same routine (internal/atomicfile.Write); the agent keeps its own because
// it imports nothing internal (TestImportsNothingInternal).
func writeFileSync(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

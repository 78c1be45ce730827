package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end telemetry benchmarks: a real `serve --dev` (SQLite, WAL,
// synchronous=FULL, group commit) in this process, vehicles with
// certificates from its CA and frame keys registered with the CLI, each
// POSTing signed 64-frame batches over its own mutual-TLS HTTP/2 connection.
// A frame counts once the gateway has answered "accepted" for it, i.e. after
// TLS, decoding, the canonical check, identity, key lookup, batch signature
// verification, de-duplication, the counter check and the durable append of
// the frame and its events. The vehicles (clients) run in the same process
// and share the machine's cores with the gateway.
//
// Reproduce (figures in docs/PERFORMANCE.md):
//
//	go test -run '^$' -bench 'TelemetryEndToEnd' -benchtime 2000x -count 3 ./cmd/fifthwheel
const (
	benchVehicles  = 16
	benchBatchSize = 64
)

// benchFleet is a gateway with enrolled vehicles whose frame counters
// continue across benchmark runs.
type benchFleet struct {
	g        *gateway
	vehicles []*benchVehicle
}

type benchVehicle struct {
	id     string
	key    frameKey
	client *http.Client
	next   int // next seq
}

// benchSetup starts the gateway and enrolls the vehicles; they live until
// b ends (the parent benchmark, so its sub-benchmarks share them).
func benchSetup(b *testing.B) *benchFleet {
	data := filepath.Join(b.TempDir(), "d")
	env := []string{
		"FIFTHWHEEL_TELEMETRY_RATE_PER_SECOND=1000000", "FIFTHWHEEL_TELEMETRY_BURST=1000000",
		"FIFTHWHEEL_LOG_LEVEL=warn",
	}
	g := startGateway(b, data, []string{"--data", data}, env)
	f := &benchFleet{g: g}
	for i := range benchVehicles {
		id := fmt.Sprintf("bench-%02d", i)
		cert, _ := g.issue("vehicle", id)
		f.vehicles = append(f.vehicles, &benchVehicle{id: id, key: g.addFrameKey(id), client: g.client(cert)})
	}
	return f
}

// sign pre-signs n batches for v, continuing its counter.
func (v *benchVehicle) sign(b *testing.B, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = v.key.batch(b, v.id, v.next, benchBatchSize, time.Now())
		v.next += benchBatchSize
	}
	return out
}

// send POSTs one batch and checks every frame was accepted.
func (v *benchVehicle) send(b *testing.B, url string, body []byte) error {
	status, resp, err := post(b, v.client, url, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: status %d: %s", v.id, status, resp)
	}
	var res batchResponse
	if err := json.Unmarshal(resp, &res); err != nil {
		return err
	}
	for _, r := range res.Results {
		if r.Verdict != "accepted" || r.Duplicate {
			return fmt.Errorf("%s: frame %d: %+v", v.id, r.Index, r)
		}
	}
	if len(res.Results) != benchBatchSize {
		return fmt.Errorf("%s: %d results", v.id, len(res.Results))
	}
	return nil
}

// split deals n batches round-robin to the vehicles and pre-signs them.
func (f *benchFleet) split(b *testing.B, n int) [][][]byte {
	work := make([][][]byte, len(f.vehicles))
	for i, v := range f.vehicles {
		k := n / len(f.vehicles)
		if i < n%len(f.vehicles) {
			k++
		}
		work[i] = v.sign(b, k)
	}
	return work
}

// ed25519Ceiling measures crypto/ed25519 verifications per second on one
// core, on a telemetry-sized message, for about d.
func ed25519Ceiling(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 580)
	sig := ed25519.Sign(priv, msg)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 100 {
			if !ed25519.Verify(pub, msg, sig) {
				panic("ed25519 verify")
			}
		}
		n += 100
	}
	return float64(n) / time.Since(start).Seconds()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTelemetryEndToEnd measures verified, durably stored frames per
// second (b.N counts 64-frame batches, spread over the vehicles, one batch
// in flight per vehicle), beside the single-core crypto/ed25519 verify rate
// measured in the same run, and their ratio.
func BenchmarkTelemetryEndToEnd(b *testing.B) {
	f := benchSetup(b)
	url := "https://" + f.g.addrs.Vehicle + "/v1/vehicle/telemetry"
	var peakFPS float64 // measured by the throughput run
	b.Run("throughput", func(b *testing.B) {
		work := f.split(b, b.N)
		var wg sync.WaitGroup
		errs := make(chan error, len(f.vehicles))
		cpu0 := cpuTime()
		b.ResetTimer()
		for i, v := range f.vehicles {
			wg.Go(func() {
				for _, body := range work[i] {
					if err := v.send(b, url, body); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		elapsed := b.Elapsed()
		cores := float64(cpuTime()-cpu0) / float64(elapsed)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		fps := float64(b.N*benchBatchSize) / elapsed.Seconds()
		ceiling := ed25519Ceiling(300 * time.Millisecond)
		peakFPS = max(peakFPS, fps)
		b.ReportMetric(fps, "frames/s")
		b.ReportMetric(ceiling, "ed25519-verify/s")
		b.ReportMetric(fps/ceiling, "ratio")
		b.ReportMetric(cores, "cores")
	})

	// p99 frame-to-ack latency at about half of the peak throughput: the
	// vehicles send on a fixed schedule (open loop) whose total rate is half
	// of the peak just measured (or measured here, if run alone); a frame's
	// ack is its batch's answer. b.N counts batches.
	b.Run("latency-at-half-peak", func(b *testing.B) {
		peak := peakFPS
		if peak == 0 {
			peak = probePeak(b, f, url)
		}
		n := max(b.N, 4*len(f.vehicles))
		work := f.split(b, n)
		perVehicle := time.Duration(float64(time.Second) * float64(len(f.vehicles)*benchBatchSize) / (peak / 2))
		var (
			mu   sync.Mutex
			lats []time.Duration
			wg   sync.WaitGroup
		)
		errs := make(chan error, len(f.vehicles))
		b.ResetTimer()
		for i, v := range f.vehicles {
			wg.Go(func() {
				// Stagger the vehicles over one period.
				next := time.Now().Add(perVehicle * time.Duration(i) / time.Duration(len(f.vehicles)))
				for _, body := range work[i] {
					time.Sleep(time.Until(next))
					sent := time.Now()
					if err := v.send(b, url, body); err != nil {
						errs <- err
						return
					}
					lat := time.Since(sent)
					mu.Lock()
					lats = append(lats, lat)
					mu.Unlock()
					next = next.Add(perVehicle)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		slices.Sort(lats)
		q := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))]) / 1e6 }
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(float64(len(lats)*benchBatchSize)/b.Elapsed().Seconds(), "frames/s")
		b.ReportMetric(peak/2, "target-frames/s")
	})
}

// probePeak sends flat out for a moment and returns frames per second.
func probePeak(b *testing.B, f *benchFleet, url string) float64 {
	work := f.split(b, 8*len(f.vehicles))
	var wg sync.WaitGroup
	start := time.Now()
	for i, v := range f.vehicles {
		wg.Go(func() {
			for _, body := range work[i] {
				if err := v.send(b, url, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(8*len(f.vehicles)*benchBatchSize) / time.Since(start).Seconds()
}

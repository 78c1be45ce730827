package store_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// crashChildEnv carries the store config to the child process.
const crashChildEnv = "FIFTHWHEEL_STORE_CRASH_CHILD"

// crashFramesEnv selects the frames child (crashFramesChild) instead of the
// events one.
const crashFramesEnv = "FIFTHWHEEL_STORE_CRASH_FRAMES"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(crashChildEnv); cfg != "" {
		if os.Getenv(crashFramesEnv) != "" {
			crashFramesChild(cfg)
		}
		crashChild(cfg)
		return
	}
	os.Exit(m.Run())
}

func openCrashStore(cfgJSON string) store.Store {
	var cfg store.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	return st
}

// crashChild appends events from several goroutines forever, printing each
// id only after AppendEvents returned (that is, after it is durable). The
// parent kills it with SIGKILL in the middle of that stream.
func crashChild(cfgJSON string) {
	st := openCrashStore(cfgJSON)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("c%d-%d", w, i)
				if err := st.AppendEvents(context.Background(), []store.EventRow{ev(id, "crash", "s", time.Now())}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintln(out, id)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashSafety: a process killed with SIGKILL in the middle of a stream
// of commits loses no committed row and leaves a readable store.
func TestCrashSafety(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		// Create and migrate first, so the child only appends.
		st, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		b, _ := json.Marshal(cfg)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+string(b))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			acked = append(acked, sc.Text())
			if len(acked) == 300 {
				// Kill in the middle of the stream: writes are in flight now.
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		werr := cmd.Wait()
		if len(acked) < 300 {
			t.Fatalf("child stopped after %d commits: %v\n%s", len(acked), werr, stderr.String())
		}
		st2 := storetest.OpenConfig(t, cfg)
		rows, err := st2.ListEvents(context.Background(), store.EventFilter{Limit: store.MaxPage})
		if err != nil {
			t.Fatalf("store unreadable after SIGKILL: %v", err)
		}
		have := map[string]bool{}
		for _, r := range rows {
			have[r.ID] = true
		}
		for _, id := range acked {
			if !have[id] {
				t.Fatalf("acknowledged row %s lost after SIGKILL (%d acked, %d stored)", id, len(acked), len(rows))
			}
		}
		t.Logf("%d acknowledged before the kill, %d stored (in-flight commits may land)", len(acked), len(rows))
		if err := st2.PutSetting(context.Background(), "after", []byte("crash")); err != nil {
			t.Fatalf("store not writable after SIGKILL: %v", err)
		}
	})
}

// The frames child's streams: telemetry batches (vehicles T*), heartbeats
// (H*), and both in turn on one counter (M1).
const (
	crashBatch     = 16
	crashTelemetry = 3
	crashBeating   = 3
)

// crashFramesChild appends telemetry batches and heartbeats from several
// goroutines forever, through the out-of-order window, printing
// "<vehicle> <kind> <seq>" for every record only after AppendFrames
// returned it stored (that is, durable).
func crashFramesChild(cfgJSON string) {
	st := openCrashStore(cfgJSON)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	appendAll := func(recs []store.FrameRecord) {
		res, err := st.AppendFrames(context.Background(), recs, store.MaxAppendWindow)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range recs {
			if res[i] != store.AppendStored {
				fmt.Fprintf(os.Stderr, "%s %s %d: %v\n", r.VehicleID, r.Kind, r.Seq, res[i])
				os.Exit(5)
			}
			fmt.Fprintln(out, r.VehicleID, r.Kind, r.Seq)
		}
		out.Flush()
	}
	stream := func(vehicle string, next func(seq int64) []store.FrameRecord) {
		for seq := int64(0); ; {
			recs := next(seq)
			appendAll(recs)
			seq += int64(len(recs))
		}
	}
	for w := range crashTelemetry {
		go stream(fmt.Sprintf("T%d", w), func(seq int64) []store.FrameRecord {
			recs := make([]store.FrameRecord, crashBatch)
			for i := range recs {
				recs[i] = rec(fmt.Sprintf("T%d", w), 0, seq+int64(i), "crash")
			}
			return recs
		})
	}
	for w := range crashBeating {
		go stream(fmt.Sprintf("H%d", w), func(seq int64) []store.FrameRecord {
			return []store.FrameRecord{hbRec(fmt.Sprintf("H%d", w), 0, seq, "crash")}
		})
	}
	stream("M1", func(seq int64) []store.FrameRecord {
		if seq%5 == 0 {
			return []store.FrameRecord{hbRec("M1", 0, seq, "crash")}
		}
		return []store.FrameRecord{rec("M1", 0, seq, "crash"), rec("M1", 0, seq+1, "crash"), rec("M1", 0, seq+2, "crash"), rec("M1", 0, seq+3, "crash")}
	})
}

// TestCrashSafetyFrames: a process killed with SIGKILL in the middle of a
// stream of telemetry batches and heartbeats loses no acknowledged frame
// and no acknowledged counter (a heartbeat's included), and after the
// restart no acknowledged record, re-sent, is stored again, not even
// through the out-of-order window.
func TestCrashSafetyFrames(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		b, _ := json.Marshal(cfg)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+string(b), crashFramesEnv+"=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		type acked struct {
			kind string
			seq  int64
		}
		byVehicle := map[string][]acked{}
		n := 0
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var v, kind string
			var seq int64
			if _, err := fmt.Sscan(sc.Text(), &v, &kind, &seq); err != nil {
				t.Fatalf("child printed %q", sc.Text())
			}
			byVehicle[v] = append(byVehicle[v], acked{kind, seq})
			if n++; n == 2000 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		werr := cmd.Wait()
		if n < 2000 {
			t.Fatalf("child stopped after %d records: %v\n%s", n, werr, stderr.String())
		}
		if len(byVehicle) != crashTelemetry+crashBeating+1 {
			t.Fatalf("acknowledged records of %d vehicles, want every stream's", len(byVehicle))
		}

		st2 := storetest.OpenConfig(t, cfg)
		for v, recs := range byVehicle {
			rows := map[int64]bool{}
			for _, f := range frameRows(t, st2, v) {
				rows[f.Seq] = true
			}
			var high, lastHB int64 = -1, -1
			var resend []store.FrameRecord
			for _, a := range recs {
				high = max(high, a.seq)
				if a.kind == store.HeartbeatKind {
					lastHB = max(lastHB, a.seq)
					resend = append(resend, hbRec(v, 0, a.seq, "crash"))
					continue
				}
				if !rows[a.seq] {
					t.Fatalf("%s: acknowledged frame %d lost after SIGKILL", v, a.seq)
				}
				resend = append(resend, rec(v, 0, a.seq, "crash"))
			}
			c, err := st2.GetCounter(ctx, v)
			if err != nil || c.HighSeq < high {
				t.Fatalf("%s: counter %+v, %v after SIGKILL; %d was acknowledged", v, c, err, high)
			}
			if lastHB >= 0 {
				if hb, err := st2.LatestFrame(ctx, v, store.HeartbeatKind); err != nil || hb.Seq < lastHB {
					t.Fatalf("%s: latest heartbeat %d, %v after SIGKILL; %d was acknowledged", v, hb.Seq, err, lastHB)
				}
			}
			for len(resend) > 0 {
				k := min(len(resend), 256)
				out, err := st2.AppendFrames(ctx, resend[:k], store.MaxAppendWindow)
				if err != nil {
					t.Fatal(err)
				}
				for i, o := range out {
					if o == store.AppendStored {
						t.Fatalf("%s: acknowledged %s %d stored again after the restart", v, resend[i].Kind, resend[i].Seq)
					}
				}
				resend = resend[k:]
			}
		}
		t.Logf("%d records acknowledged before the kill", n)
		if out, err := st2.AppendFrames(ctx, []store.FrameRecord{hbRec("H0", 0, 1<<40, "after")}, 0); err != nil || out[0] != store.AppendStored {
			t.Fatalf("store not writable after SIGKILL: %v, %v", out, err)
		}
	})
}

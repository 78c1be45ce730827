package audit_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// The crash child's environment: the store config and the sealing key.
const (
	crashChildEnv = "FIFTHWHEEL_AUDIT_CRASH_CHILD"
	crashKeyEnv   = "FIFTHWHEEL_AUDIT_CRASH_KEY"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(crashChildEnv); cfg != "" {
		crashChild(cfg, os.Getenv(crashKeyEnv))
		return
	}
	os.Exit(m.Run())
}

func gcmFrom(key []byte) sealtest.GCM {
	g, err := sealtest.FromKey(key)
	if err != nil {
		panic(err)
	}
	return g
}

// crashChild ingests as the gateway does, with its sequencer running: from
// four goroutines, batches of frames and an event each, through the store
// (which appends their items in the same transactions); it prints each
// row's audit reference only after the append returned (durable). The
// parent kills it with SIGKILL mid-stream, mid-sequencing too.
func crashChild(cfgJSON, keyHex string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	var cfg store.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fail(err)
	}
	key, _ := hex.DecodeString(keyHex)
	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		fail(err)
	}
	lk, err := audit.LoadOrCreateKey(ctx, st, gcmFrom(key), origin, time.Now())
	if err != nil {
		fail(err)
	}
	seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st, Key: lk}, audit.SequencerConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	go func() { _ = seq.Run(ctx) }()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := range 4 {
		go func() {
			v := fmt.Sprintf("T%d", w)
			for s := int64(0); ; s += 8 {
				recs := make([]store.FrameRecord, 8)
				for i := range recs {
					raw := []byte(fmt.Sprintf(`{"v":%q,"seq":%d}`, v, s+int64(i)))
					h := sha256.Sum256(raw)
					recs[i] = store.FrameRecord{VehicleID: v, Seq: s + int64(i), Kind: "telemetry", TS: time.Now(), ReceivedAt: time.Now(),
						Alg: "Ed25519", KID: "k", Hash: h[:], Raw: raw, Sig: []byte("s"), Verdict: "accepted"}
				}
				id := fmt.Sprintf("%s-ev-%d", v, s)
				recs[7].Events = []store.EventRow{{ID: id, Time: time.Now(), Class: "telemetry", Verdict: "info", Code: "x", Subject: v,
					Body: []byte(`{"id":"` + id + `"}`)}}
				res, err := st.AppendFrames(ctx, recs, 0)
				if err != nil {
					fail(err)
				}
				mu.Lock()
				for i, r := range recs {
					if res[i] != store.AppendStored {
						fail(fmt.Errorf("%s %d: %v", v, r.Seq, res[i]))
					}
					fmt.Fprintln(out, "frame", store.FrameAuditRef(v, 0, r.Seq))
				}
				fmt.Fprintln(out, "event", id)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashAuditCoverage: a process ingesting with its sequencer running
// is killed with SIGKILL mid-stream. After the restart every acknowledged
// frame and event has exactly one audit item, the next sequencer steps
// cover what was pending, and the log verifies (items recomputed, rows
// re-hashed) against its first checkpoint, on both engines.
func TestCrashAuditCoverage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		cfg := e.New(t)
		st, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		b, _ := json.Marshal(cfg)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+string(b), crashKeyEnv+"="+hex.EncodeToString(key))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked [][2]string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			kind, ref, _ := strings.Cut(sc.Text(), " ")
			acked = append(acked, [2]string{kind, ref})
			if len(acked) == 3000 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		werr := cmd.Wait()
		if len(acked) < 3000 {
			t.Fatalf("child stopped after %d acks: %v\n%s", len(acked), werr, stderr.String())
		}

		st2 := storetest.OpenConfig(t, cfg)
		lk, err := audit.LoadOrCreateKey(ctx, st2, gcmFrom(key), origin, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		first, err := st2.AuditCheckpointAt(ctx, 1)
		if err != nil {
			t.Fatalf("no first checkpoint: the sequencer never ran before the kill: %v", err)
		}
		pending, _ := st2.PendingAuditItems(ctx)
		seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st2, Key: lk}, audit.SequencerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := seq.Drain(ctx); err != nil {
			t.Fatalf("sequencing after SIGKILL: %v", err)
		}
		for _, a := range acked {
			its, err := st2.FindAuditItems(ctx, a[0], a[1])
			if err != nil || len(its) != 1 || !its[0].Sequenced {
				t.Fatalf("acknowledged %s %s: items %+v, %v", a[0], a[1], its, err)
			}
		}
		r, err := audit.Verify(ctx, st2, lk.Verifier(), first.Note, audit.VerifyOptions{Source: audit.StoreSource{Rows: st2}})
		if err != nil || !r.OK() {
			t.Fatalf("verify after SIGKILL: %v, %+v", err, r)
		}
		t.Logf("%d acknowledged before the kill, %d pending at restart; the log verifies at size %d (%d items)", len(acked), pending, r.Current.Size, r.Items)
	})
}

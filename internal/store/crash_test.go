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

func TestMain(m *testing.M) {
	if cfg := os.Getenv(crashChildEnv); cfg != "" {
		crashChild(cfg)
		return
	}
	os.Exit(m.Run())
}

// crashChild appends events from several goroutines forever, printing each
// id only after AppendEvents returned (that is, after it is durable). The
// parent kills it with SIGKILL in the middle of that stream.
func crashChild(cfgJSON string) {
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

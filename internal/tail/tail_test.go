package tail_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

var ctx = context.Background()

func appendN(t *testing.T, st store.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		id := fmt.Sprint("e", i)
		if err := st.AppendEvents(ctx, []store.EventRow{{ID: id, Time: time.Now(), Class: "test", Verdict: "reject", Code: "replay", Subject: "s", Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// recorder is a handler that records what it was given and can be made to
// fail at a given event.
type recorder struct {
	mu     sync.Mutex
	got    []string
	failAt map[string]int // id -> failures left
}

func (r *recorder) handle(_ context.Context, evs []store.StreamEvent) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range evs {
		if r.failAt[e.ID] > 0 {
			r.failAt[e.ID]--
			return i, errors.New("receiver down")
		}
		r.got = append(r.got, e.ID)
	}
	return len(evs), nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fast(name, holder string, start tail.Start) tail.Config {
	return tail.Config{Name: name, Holder: holder, Start: start, Poll: 5 * time.Millisecond, Lease: 3 * time.Second,
		Page: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

// TestTailDeliversInOrderThroughFailures: every event once and in order
// despite a receiver that fails twice in the middle of a page; the errors
// are reported; the cursor is stored, so a new run resumes after it.
func TestTailDeliversInOrderThroughFailures(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		appendN(t, st, 0, 10)
		r := &recorder{failAt: map[string]int{"e4": 2}}
		var errs []error
		var mu sync.Mutex
		cfg := fast("sink:test", "gw-a", tail.FromBeginning)
		cfg.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
		c, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- tail.Run(c, st, cfg, r.handle) }()
		waitFor(t, "10 events", func() bool { return len(r.ids()) == 10 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}
		if fmt.Sprint(r.ids()) != fmt.Sprint(want) {
			t.Fatalf("delivered %v, want %v", r.ids(), want)
		}
		mu.Lock()
		if len(errs) != 2 {
			t.Fatalf("errors reported: %v, want the 2 failures", errs)
		}
		mu.Unlock()

		// Resume: a new run (another holder: the lease was released)
		// delivers only what came after.
		appendN(t, st, 10, 2)
		r2 := &recorder{}
		c2, cancel2 := context.WithCancel(ctx)
		go func() { done <- tail.Run(c2, st, fast("sink:test", "gw-b", tail.FromBeginning), r2.handle) }()
		waitFor(t, "2 new events", func() bool { return len(r2.ids()) == 2 })
		cancel2()
		<-done
		if fmt.Sprint(r2.ids()) != "[e10 e11]" {
			t.Fatalf("resumed with %v, want [e10 e11]", r2.ids())
		}
	})
}

// TestTailOneHolderAtATime: two replicas run the same consumer; only the
// lease holder delivers, and when it stops the other takes over at its
// cursor: nothing twice, nothing lost.
func TestTailOneHolderAtATime(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		a, b := &recorder{}, &recorder{}
		ca, cancelA := context.WithCancel(ctx)
		cb, cancelB := context.WithCancel(ctx)
		defer cancelB()
		doneA := make(chan error, 1)
		go func() { doneA <- tail.Run(ca, st, fast("detect", "gw-a", tail.FromBeginning), a.handle) }()
		appendN(t, st, 0, 1)
		waitFor(t, "A to take the lease", func() bool { return len(a.ids()) == 1 })
		go func() { _ = tail.Run(cb, st, fast("detect", "gw-b", tail.FromBeginning), b.handle) }()
		appendN(t, st, 1, 5)
		waitFor(t, "A to deliver 6", func() bool { return len(a.ids()) == 6 })
		if len(b.ids()) != 0 {
			t.Fatalf("B delivered %v while A held the lease", b.ids())
		}
		cancelA()
		<-doneA
		appendN(t, st, 6, 3)
		waitFor(t, "B to take over", func() bool { return len(b.ids()) == 3 })
		if fmt.Sprint(b.ids()) != "[e6 e7 e8]" {
			t.Fatalf("B delivered %v after A stopped, want [e6 e7 e8]", b.ids())
		}
	})
}

// TestTailFromHeadSkipsHistory: a new FromHead consumer starts after the
// events stored before it first ran.
func TestTailFromHeadSkipsHistory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		appendN(t, st, 0, 4)
		r := &recorder{}
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = tail.Run(c, st, fast("detect", "gw-a", tail.FromHead), r.handle) }()
		waitFor(t, "the consumer to exist", func() bool {
			cs, err := st.StreamConsumers(ctx)
			return err == nil && len(cs) == 1 && cs[0].Pos > 0
		})
		appendN(t, st, 4, 2)
		waitFor(t, "2 events", func() bool { return len(r.ids()) >= 2 })
		if fmt.Sprint(r.ids()) != "[e4 e5]" {
			t.Fatalf("FromHead delivered %v, want [e4 e5]", r.ids())
		}
	})
}

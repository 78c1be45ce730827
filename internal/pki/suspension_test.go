package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// statusSource is a vehicle registry in memory.
type statusSource struct {
	mu       sync.Mutex
	version  int64
	vehicles []store.Vehicle
	lists    int
	fail     bool
}

func (s *statusSource) VehicleStatusVersion(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return 0, errors.New("store down")
	}
	return s.version, nil
}

func (s *statusSource) ListVehicles(context.Context) ([]store.Vehicle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	return append([]store.Vehicle(nil), s.vehicles...), nil
}

func (s *statusSource) set(id string, status store.VehicleStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.vehicles {
		if s.vehicles[i].ID == id {
			s.vehicles[i].Status = status
		}
	}
	s.version++
}

// TestSuspensionClosesLiveConnections: when the registry's status version
// moves, every tracked connection of a vehicle that is no longer active is
// closed, with one session_closed_suspended event each; other vehicles keep
// theirs; an unchanged version lists nothing; a failing registry closes
// nothing; Notify makes Run act at once.
func TestSuspensionClosesLiveConnections(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs := e.newRevocationSet(t, nil)
	tr := NewConnTracker(rs, e.bus)
	defer tr.Stop()
	src := &statusSource{vehicles: []store.Vehicle{{ID: "truck-1", Status: "active"}, {ID: "truck-2", Status: "active"}}}
	w, err := NewSuspensionWatch(src, tr, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}

	var closed1, closed2 atomic.Int32
	track := func(id string, n *atomic.Int32) {
		is, _ := e.issue(principal.Vehicle, id)
		if _, err := tr.Track([]*x509.Certificate{is.Certificate}, principal.Principal{Kind: principal.Vehicle, ID: id}, "vehicle",
			func(code string) {
				if code != codes.SessionClosedSuspended {
					t.Errorf("%s closed with %q, want %s", id, code, codes.SessionClosedSuspended)
				}
				n.Add(1)
			}); err != nil {
			t.Fatal(err)
		}
	}
	track("truck-1", &closed1)
	track("truck-1", &closed1)
	track("truck-2", &closed2)

	if n, err := w.Refresh(ctx); err != nil || n != 0 {
		t.Fatalf("first load: closed %d, %v", n, err)
	}
	src.set("truck-1", "suspended")
	if n, err := w.Refresh(ctx); err != nil || n != 2 || closed1.Load() != 2 || closed2.Load() != 0 || tr.Len() != 1 {
		t.Fatalf("after the suspension: closed %d (%v), truck-1 %d, truck-2 %d, %d tracked", n, err, closed1.Load(), closed2.Load(), tr.Len())
	}
	if got := e.countCode(codes.SessionClosedSuspended); got != 2 {
		t.Fatalf("%d session_closed_suspended events, want 2", got)
	}
	lists := src.lists
	if n, err := w.Refresh(ctx); err != nil || n != 0 || src.lists != lists {
		t.Fatalf("unchanged version: closed %d, %v, listed again: %v", n, err, src.lists != lists)
	}

	src.mu.Lock()
	src.fail = true
	src.mu.Unlock()
	src.set("truck-2", "retired")
	if n, err := w.Refresh(ctx); err == nil || n != 0 || closed2.Load() != 0 {
		t.Fatalf("failing registry: closed %d, %v", n, err)
	}
	src.mu.Lock()
	src.fail = false
	src.mu.Unlock()

	// Run polls every hour here: only Notify can make it act in time.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	w.Notify()
	waitFor(t, func() bool { return closed2.Load() == 1 })
	if tr.Len() != 0 {
		t.Fatalf("%d connections still tracked", tr.Len())
	}
}

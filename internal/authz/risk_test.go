package authz

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

func TestRiskFactors(t *testing.T) {
	p := principal.Principal{Kind: principal.Client, ID: "c"}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

	k, err := NewRisk(RiskConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// No history: nothing, not even a "new" source.
	if r := k.Observe(p, "10.0.0.1", Hours{}, t0); r.Score != 0 {
		t.Fatalf("first request: %+v", r)
	}
	// A source not seen in the window while others were.
	if r := k.Observe(p, "10.0.0.2", Hours{}, t0); r.Score != DefaultRiskNewSourceWeight || !slices.Equal(r.Factors, []string{RiskFactorNewSource}) {
		t.Fatalf("new source: %+v", r)
	}
	if r := k.Observe(p, "10.0.0.2", Hours{}, t0); r.Score != 0 {
		t.Fatalf("known source: %+v", r)
	}
	// Outside hours.
	if r := k.Observe(p, "10.0.0.1", Hours{From: 13 * 60, To: 14 * 60}, t0); r.Score != DefaultRiskOffHoursWeight {
		t.Fatalf("outside hours: %+v", r)
	}
	// Failures, capped.
	for i := range 5 {
		k.Fail(p, t0)
		want := min((i+1)*DefaultRiskFailureWeight, DefaultRiskFailureCap)
		if r := k.Observe(p, "10.0.0.1", Hours{}, t0); r.Score != want {
			t.Fatalf("%d failures: %+v, want %d", i+1, r, want)
		}
	}
	// Everything at once is capped at 100.
	if r := k.Observe(p, "192.0.2.1", Hours{From: 13 * 60, To: 14 * 60}, t0); r.Score != 90 {
		t.Fatalf("failures+new source+hours: %+v", r)
	}
	// Failures and sources age out of the window.
	later := t0.Add(DefaultRiskWindow + time.Second)
	if r := k.Observe(p, "10.0.0.9", Hours{}, later); r.Score != 0 {
		t.Fatalf("after the window: %+v", r)
	}
}

func TestRiskUnusualRate(t *testing.T) {
	p := principal.Principal{Kind: principal.Client, ID: "c"}
	k, err := NewRisk(RiskConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	// A usual 20 requests a minute for five minutes.
	for m := range 5 {
		for i := range 20 {
			if r := k.Observe(p, "10.0.0.1", Hours{}, t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second)); r.Score != 0 {
				t.Fatalf("usual traffic scored %+v", r)
			}
		}
	}
	// Then 200 in one minute: from the point it passes 4× usual (and the
	// floor), the rate factor is on.
	now := t0.Add(5 * time.Minute)
	var flagged int
	for i := range 200 {
		if r := k.Observe(p, "10.0.0.1", Hours{}, now.Add(time.Duration(i)*100*time.Millisecond)); slices.Contains(r.Factors, RiskFactorRate) {
			if r.Score != DefaultRiskRateWeight {
				t.Fatalf("rate: %+v", r)
			}
			flagged++
		}
	}
	if flagged == 0 || flagged > 200-DefaultRiskRateFloor+1 {
		t.Fatalf("%d of 200 requests flagged", flagged)
	}
	// A new client with no history is never flagged for rate.
	q := principal.Principal{Kind: principal.Client, ID: "new"}
	for i := range 500 {
		if r := k.Observe(q, "10.0.0.1", Hours{}, now.Add(time.Duration(i)*time.Millisecond)); r.Score != 0 {
			t.Fatalf("a client without history scored %+v", r)
		}
	}
}

func TestRiskBounded(t *testing.T) {
	k, err := NewRisk(RiskConfig{MaxPrincipals: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := range 10 {
		p := principal.Principal{Kind: principal.Client, ID: string(rune('a' + i))}
		for j := range 40 {
			k.Observe(p, string(rune('A'+j)), Hours{}, t0)
			k.Fail(p, t0)
		}
	}
	if len(k.by) != 3 || k.lru.Len() != 3 {
		t.Fatalf("%d principals held", len(k.by))
	}
	for _, el := range k.by {
		s := el.Value.(*riskState)
		if len(s.sources) > MaxRiskSources || len(s.failures) > MaxRiskFailures {
			t.Fatalf("%d sources, %d failures held", len(s.sources), len(s.failures))
		}
	}
	for _, c := range []RiskConfig{{Threshold: 101}, {Threshold: -1}, {FailureWeight: -1}, {Window: time.Second}} {
		if _, err := NewRisk(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// blockingDirectory holds Account until released, so a version change can
// land while a lookup is in flight.
type blockingDirectory struct {
	*fakeDirectory
	started, release chan struct{}
	once             sync.Once
}

func (b *blockingDirectory) Account(ctx context.Context, p principal.Principal) (Account, error) {
	a, err := b.fakeDirectory.Account(ctx, p)
	b.once.Do(func() { close(b.started); <-b.release })
	return a, err
}

// An account read before a change and returned after it must not be
// cached past the change.
func TestDirectoryDropsAnswersReadAcrossAChange(t *testing.T) {
	p := principal.Principal{Kind: principal.Client, ID: "c"}
	fd := &fakeDirectory{accounts: map[principal.Principal]Account{p: {Principal: p, Active: true}}}
	bd := &blockingDirectory{fakeDirectory: fd, started: make(chan struct{}), release: make(chan struct{})}
	d, err := NewCachedDirectory(CachedDirectoryConfig{}, CachedDirectoryDeps{Directory: bd, Version: fd.Version})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan Account)
	go func() { a, _ := d.Account(ctx, p); done <- a }()
	<-bd.started
	fd.change(p, func(a *Account) { a.Active = false })
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	close(bd.release)
	if a := <-done; !a.Active {
		t.Fatal("the in-flight read saw the change: the test does not test the race")
	}
	if a, err := d.Account(ctx, p); err != nil || a.Active {
		t.Fatalf("after the change: %+v, %v (an answer read before it was cached)", a, err)
	}
}

// Peek scores a refused request from the principal's past without
// recording it: neither its source nor its rate, and an unseen principal
// is not tracked.
func TestRiskPeek(t *testing.T) {
	p := principal.Principal{Kind: principal.Client, ID: "c"}
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	k, err := NewRisk(RiskConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if r := k.Peek(p, "10.0.0.1", t0); r.Score != 0 || len(k.by) != 0 {
		t.Fatalf("unseen principal: %+v, %d tracked", r, len(k.by))
	}
	k.Observe(p, "10.0.0.1", Hours{}, t0)
	k.Fail(p, t0)
	r := k.Peek(p, "192.0.2.1", t0)
	if want := DefaultRiskFailureWeight + DefaultRiskNewSourceWeight; r.Score != want ||
		!slices.Equal(r.Factors, []string{RiskFactorFailures, RiskFactorNewSource}) {
		t.Fatalf("failure and a new source: %+v, want %d", r, want)
	}
	// The refused request's source stays new to the principal.
	if r := k.Observe(p, "192.0.2.1", Hours{}, t0); !slices.Contains(r.Factors, RiskFactorNewSource) {
		t.Fatalf("the source of a peeked request became known: %+v", r)
	}
}

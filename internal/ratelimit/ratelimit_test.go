package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// Regression for the limiter that never limited: a key over its rate is
// refused with a wait, and other keys are unaffected.
func TestLimiterActuallyLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(Config{PerSecond: 10, Burst: 5})
	l.clock = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		if ok, _ := l.AllowN("T1", 1); !ok {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	ok, wait := l.AllowN("T1", 1)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("over burst: ok=%v wait=%v; want refused with ~100ms", ok, wait)
	}
	if ok, _ := l.AllowN("T2", 1); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.AllowN("T1", 1); !ok {
		t.Fatal("refill not honoured")
	}
	if ok, wait := l.AllowN("T1", 6); ok || wait != 500*time.Millisecond {
		t.Fatalf("request above burst: ok=%v wait=%v", ok, wait)
	}
	if RetryAfterSeconds(wait) != 1 || RetryAfterSeconds(2500*time.Millisecond) != 3 {
		t.Fatal("RetryAfterSeconds rounding")
	}
}

func TestLimiterBoundedKeys(t *testing.T) {
	l := New(Config{PerSecond: 1, Burst: 1, MaxKeys: 100})
	for i := 0; i < 1000; i++ {
		l.AllowN(fmt.Sprint(i), 1)
	}
	if len(l.keys) != 100 || l.lru.Len() != 100 {
		t.Fatalf("tracking %d keys, want 100", len(l.keys))
	}
}

func TestDisabledAllows(t *testing.T) {
	if ok, _ := New(Config{}).AllowN("x", 1000); !ok {
		t.Fatal("a zero rate must mean disabled")
	}
}

// TestGiveBackRestoresTheBudget: a request the gateway refuses for its own
// reasons after taking its tokens (too busy to look at it) gives them back,
// so it does not spend the key's budget; giving back never raises a bucket
// above its burst, and a refused request has nothing to give back.
func TestGiveBackRestoresTheBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(Config{PerSecond: 10, Burst: 5})
	l.clock = func() time.Time { return now }
	ok, _, giveBack := l.TakeN("T1", 5)
	if !ok {
		t.Fatal("a request within the burst was refused")
	}
	if ok, _ := l.AllowN("T1", 1); ok {
		t.Fatal("the burst was not spent")
	}
	now = now.Add(50 * time.Millisecond) // the gateway looked, and refused
	giveBack()
	if ok, _ := l.AllowN("T1", 5); !ok {
		t.Fatal("the tokens given back were not restored")
	}
	if ok, _ := l.AllowN("T1", 1); ok {
		t.Fatal("giving back raised the bucket above its burst")
	}
	ok, _, giveBack = l.TakeN("T1", 5)
	if ok {
		t.Fatal("an empty bucket allowed a request")
	}
	giveBack()
	if ok, _ := l.AllowN("T1", 1); ok {
		t.Fatal("a refused request gave tokens back")
	}
}

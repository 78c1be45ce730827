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

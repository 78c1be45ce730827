package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCounterNeverReusesASeq: sequence numbers persist across restarts and
// crashes (a reopen without a clean close) and are never handed out twice.
func TestCounterNeverReusesASeq(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCounter(dir, "truck-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	take := func(c *Counter, n int) {
		t.Helper()
		for range n {
			e, s, err := c.Next()
			if err != nil || e != 0 {
				t.Fatalf("next: %d %v", e, err)
			}
			if seen[s] {
				t.Fatalf("seq %d handed out twice", s)
			}
			seen[s] = true
		}
	}
	take(c, 10)
	// "Crash": the process dies; a new one opens the same directory.
	for range 3 {
		c, err = OpenCounter(dir, "truck-1", 0)
		if err != nil {
			t.Fatal(err)
		}
		take(c, seqBlock+5) // crosses a reservation
	}
	st, err := os.Stat(filepath.Join(dir, CounterFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("counter file: %v %v", st, err)
	}
}

func TestCounterRefusals(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenCounter(dir, "truck-1", 0)
	c.Next()
	if _, err := OpenCounter(dir, "truck-2", 0); err == nil {
		t.Fatal("another vehicle's counter opened")
	}
	path := filepath.Join(dir, CounterFile)
	for name, body := range map[string]string{
		"truncated":      `{"epoch":0,"res`,
		"unknown member": `{"v":1,"vehicle_id":"truck-1","epoch":0,"reserved":5,"extra":1}`,
		"wrong version":  `{"v":2,"vehicle_id":"truck-1","epoch":0,"reserved":5}`,
		"two values":     `{"v":1,"vehicle_id":"truck-1","epoch":0,"reserved":5}{}`,
		"negative":       `{"v":1,"vehicle_id":"truck-1","epoch":0,"reserved":-5}`,
	} {
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := OpenCounter(dir, "truck-1", 0); err == nil {
			t.Fatalf("%s counter file accepted", name)
		}
	}
	os.WriteFile(path, []byte(`{"v":1,"vehicle_id":"truck-1","epoch":0,"reserved":9007199254740992}`), 0o600)
	c, err := OpenCounter(dir, "truck-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Next(); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("exhausted counter: %v", err)
	}
}

// TestCounterEpoch: a newer authorized epoch starts at seq 0; an older
// configured one is ignored.
func TestCounterEpoch(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenCounter(dir, "truck-1", 3)
	if e, s, _ := c.Next(); e != 3 || s != 0 {
		t.Fatalf("(%d,%d)", e, s)
	}
	c, _ = OpenCounter(dir, "truck-1", 7)
	if e, s, _ := c.Next(); e != 7 || s != 0 {
		t.Fatalf("(%d,%d)", e, s)
	}
	c, _ = OpenCounter(dir, "truck-1", 2)
	if e, s, _ := c.Next(); e != 7 || s < seqBlock {
		t.Fatalf("(%d,%d): an older epoch must not win", e, s)
	}
}

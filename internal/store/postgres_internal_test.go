package store

import (
	"context"
	"testing"
	"time"
)

// TestPostgresBulkSlots: at most PostgresBulkWriters bulk writes run at
// once on PostgreSQL; other writes never wait for a slot.
func TestPostgresBulkSlots(t *testing.T) {
	s := &pgStore{bulk: make(chan struct{}, PostgresBulkWriters)}
	ctx := context.Background()
	var releases []func()
	for i := 0; i < PostgresBulkWriters; i++ {
		r, err := s.bulkSlot(Bulk(ctx))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	short, cancel := context.WithTimeout(Bulk(ctx), 20*time.Millisecond)
	defer cancel()
	if _, err := s.bulkSlot(short); err == nil {
		t.Fatalf("bulk write %d ran beside %d others", PostgresBulkWriters+1, PostgresBulkWriters)
	}
	if r, err := s.bulkSlot(ctx); err != nil {
		t.Fatalf("a live write waited for a bulk slot: %v", err)
	} else {
		r()
	}
	releases[0]()
	if r, err := s.bulkSlot(Bulk(ctx)); err != nil {
		t.Fatalf("a released slot was not reusable: %v", err)
	} else {
		r()
	}
}

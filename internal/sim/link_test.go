package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpServer accepts connections and hands each to serve.
func tcpServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) { defer c.Close(); _, _ = io.Copy(c, c) }

func dialLink(t *testing.T, l *link, addr string) net.Conn {
	t.Helper()
	c, err := l.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A round trip through a link with latency and jitter takes at least twice
// the latency, and the byte stream keeps its order.
func TestLinkLatencyJitterKeepsOrder(t *testing.T) {
	addr := tcpServer(t, echo)
	l := newLink(Faults{Latency: 30 * time.Millisecond, Jitter: 40 * time.Millisecond}, &scenarioClock{}, 1, nil)
	c := dialLink(t, l, addr)
	start := time.Now()
	var want []byte
	for i := range 50 {
		b := []byte{byte(i)}
		want = append(want, b...)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("reordered: %v", got)
	}
	if rtt := time.Since(start); rtt < 60*time.Millisecond {
		t.Fatalf("round trip %v, want at least 2 × 30 ms", rtt)
	}
}

// Loss is retransmission, as on TCP: delay (an RTO, doubling when the
// retransmission is lost too), never a gap in the stream.
func TestLinkLossIsDelayNotAGap(t *testing.T) {
	l := newLink(Faults{Loss: 0.1}, &scenarioClock{}, 7, nil)
	lost := 0
	for range 10_000 {
		if d := l.delay(); d > 0 {
			lost++
			if d < tcpMinRTO || d%tcpMinRTO != 0 {
				t.Fatalf("delay %v is not a sum of RTOs", d)
			}
		}
	}
	if lost < 800 || lost > 1200 {
		t.Fatalf("%d of 10000 writes delayed at 10 %% loss", lost)
	}

	addr := tcpServer(t, echo)
	c := dialLink(t, l, addr)
	msg := []byte("heartbeat")
	for range 10 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 10*len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat(msg, 10)) {
		t.Fatal("stream altered by loss")
	}
}

// A blackout is silent: what is written during it arrives after it, a
// dial waits for the link, and neither end sees the connection fail.
func TestLinkBlackoutHoldsTraffic(t *testing.T) {
	addr := tcpServer(t, echo)
	clock := &scenarioClock{}
	l := newLink(Faults{Blackout: Window{At: 0, For: 300 * time.Millisecond}}, clock, 1, nil)
	c := dialLink(t, l, addr)
	t0 := time.Now()
	clock.arm(t0)
	l.poke()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("echo after %v, inside the blackout", d)
	}

	// A dial during a blackout waits for its end (or its context).
	l2 := newLink(Faults{Blackout: Window{At: 0, For: 200 * time.Millisecond}}, clock, 2, nil)
	clock2 := &scenarioClock{}
	l2.clock = clock2
	clock2.arm(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l2.DialContext(ctx, "tcp", addr); err == nil {
		t.Fatal("dial completed inside a blackout")
	}
	start := time.Now()
	c2, err := l2.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("dial did not wait for the blackout to end")
	}
}

// A flap is a carrier loss: the truck's connection resets, dials are
// refused while the link is down, and the gateway's end sees silence (no
// FIN) until it gives up itself.
func TestLinkFlapResetsTruckSideOnly(t *testing.T) {
	serverSide := make(chan net.Conn, 1)
	addr := tcpServer(t, func(c net.Conn) { serverSide <- c })
	clock := &scenarioClock{}
	l := newLink(Faults{FlapEvery: 300 * time.Millisecond, FlapWindow: Window{At: 100 * time.Millisecond}}, clock, 1, nil)
	c := dialLink(t, l, addr)
	srv := <-serverSide
	defer srv.Close()
	clock.arm(time.Now())
	l.poke()

	_, err := c.Read(make([]byte, 1)) // blocks until the carrier loss at 100 ms
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("truck side: %v, want a reset", err)
	}
	if _, err := l.DialContext(context.Background(), "tcp", addr); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("dial while down: %v, want network unreachable", err)
	}
	c.Close()
	srv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("gateway side: %v, want silence (a timeout), not a close", err)
	}
	// Up again after 300 ms of down: dials go through.
	time.Sleep(time.Until(time.Now().Add(350 * time.Millisecond)))
	c2, err := l.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial while up: %v", err)
	}
	c2.Close()
}

// Closing delivers what was written before, as TCP does (a goodbye must
// reach the gateway).
func TestLinkCloseFlushes(t *testing.T) {
	got := make(chan []byte, 1)
	addr := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	})
	l := newLink(Faults{Latency: 50 * time.Millisecond}, &scenarioClock{}, 1, nil)
	c, err := l.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("goodbye"))
	c.Close()
	select {
	case b := <-got:
		if string(b) != "goodbye" {
			t.Fatalf("gateway got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered after close")
	}
}

func TestLinkReadDeadline(t *testing.T) {
	addr := tcpServer(t, echo)
	l := newLink(Faults{Latency: time.Millisecond}, &scenarioClock{}, 1, nil)
	c := dialLink(t, l, addr)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("deadline not honoured promptly")
	}
}

func TestAssignFaults(t *testing.T) {
	groups := []FaultGroup{{Fraction: 0.1, Faults: Faults{Blackout: Window{For: time.Second}}}, {Fraction: 1, Faults: Faults{Jitter: time.Millisecond}}}
	f, chosen := assignFaults(1000, groups, 42)
	if len(chosen[0]) != 100 || len(chosen[1]) != 1000 {
		t.Fatalf("chosen %d and %d", len(chosen[0]), len(chosen[1]))
	}
	n := 0
	for _, x := range f {
		if x.Blackout.For > 0 {
			n++
			if x.Jitter == 0 {
				t.Fatal("groups do not combine")
			}
		}
	}
	if n != 100 {
		t.Fatalf("%d trucks with a blackout", n)
	}
	f2, _ := assignFaults(1000, groups, 42)
	for i := range f {
		if f[i] != f2[i] {
			t.Fatal("not reproducible from the seed")
		}
	}
}

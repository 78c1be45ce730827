package pki

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// BenchmarkHandshakeFull: full TLS 1.3 mTLS handshakes on loopback, client
// and server in this process on one core (GOMAXPROCS=1), so ns/op is the
// CPU of both ends plus the listener's checks (chain verification, identity
// mapping, revocation lookup) and the accept event on a sink-less bus.
//
//	go test -run x -bench Handshake -benchtime=2s ./internal/pki/
func BenchmarkHandshakeFull(b *testing.B) { benchHandshake(b, false) }

// BenchmarkHandshakeResumed: the same with TLS 1.3 session tickets (PSK
// with ECDHE): no certificate signatures, but VerifyConnection still runs.
func BenchmarkHandshakeResumed(b *testing.B) { benchHandshake(b, true) }

func benchHandshake(b *testing.B, resume bool) {
	e := newEnv(b, ECDSAP256)
	rs := e.newRevocationSet(b, nil)
	runSet(b, rs)
	bus := event.NewBus(nil, nil) // no sinks: measure the handshake, not a store
	_, gw := e.issue(principal.Gateway, "gw-1")
	_, truck := e.issue(principal.Vehicle, "truck-1")
	cfg, err := ServerTLSConfig(vehicleListener, ListenerDeps{Trust: e.ca.Trust(), Revocations: rs, Events: bus,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &gw, nil }})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				defer tc.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := ReportHandshake(ctx, bus, "vehicle", tc, tc.HandshakeContext(ctx)); err != nil {
					return
				}
				_, _ = tc.Write([]byte{1})
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()

	ccfg := e.clientConfig(&truck)
	if resume {
		ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	}
	once := func() bool {
		c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var buf [1]byte
		if _, err := io.ReadFull(c, buf[:]); err != nil { // the server accepted us
			b.Fatal(err)
		}
		return c.ConnectionState().DidResume
	}
	once() // prime the session cache

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if once() != resume {
			b.Fatalf("DidResume != %v", resume)
		}
	}
	// Wall-clock figures suffer when other processes share the cores;
	// process CPU time per handshake (both ends, user+system) does not.
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU returns this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

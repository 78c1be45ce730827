package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"
)

// dialFunc dials a TCP connection (net.Dialer.DialContext, or Deps.DialContext).
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// gatewayTransport is the HTTP transport to the gateway (session upgrade,
// batch path, renewal, enrollment). It completes each TLS handshake itself,
// within handshakeTimeout, and hands the transport the *tls.Conn, so the
// transport sees the negotiated protocol (ALPN) and sets Response.TLS.
//
// With h2 it offers HTTP/2 and HTTP/1.1 (the batch path, renewal,
// enrollment); without, HTTP/1.1 only: the session's WebSocket upgrade
// needs HTTP/1.1, and a custom TLS dialer negotiates ALPN for every
// request, upgrade or not, so the upgrade gets a transport of its own.
//
// A TLS alert in a request's error is believed only as gatewayRequest
// says: see there.
func gatewayTransport(dial dialFunc, tc *tls.Config, handshakeTimeout time.Duration, h2 bool) *http.Transport {
	tc = tc.Clone()
	var p http.Protocols
	p.SetHTTP1(true)
	tc.NextProtos = []string{"http/1.1"}
	if h2 {
		p.SetHTTP2(true)
		tc.NextProtos = []string{"h2", "http/1.1"}
	}
	return &http.Transport{
		DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialGateway(ctx, dial, tc, handshakeTimeout, network, addr)
		},
		Protocols:           &p,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		Proxy:               nil,
	}
}

// dialGateway dials addr and completes the TLS handshake. A handshake error
// is returned as a handshakeError: whatever alert it carries came before
// the gateway had proven anything (one plaintext alert record before
// ServerHello is all an on-path attacker needs to send), so classifyDial
// reports it as a network error.
func dialGateway(ctx context.Context, dial dialFunc, tc *tls.Config, timeout time.Duration, network, addr string) (net.Conn, error) {
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := tc.Clone()
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	conn := tls.Client(raw, c)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, &handshakeError{err}
	}
	if saw, ok := ctx.Value(dialedKey{}).(func(net.Conn)); ok {
		saw(conn)
	}
	return conn, nil
}

// handshakeError is the error of a TLS handshake that did not complete: an
// alert in it proves nothing.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// gatewayRequest prepares ctx for one request to the gateway (the
// request's context, or websocket.Dial's) and returns the function that
// marks the request's error: a TLS alert in it becomes a gatewayAlert, the
// only kind classifyDial maps to a typed refusal, when it was read on an
// authenticated connection.
//
// A connection is authenticated when its TLS 1.3 handshake completed: the
// gateway's certificate chain verified against GatewayCAPEM, its
// CertificateVerify signed this handshake and its Finished matched. Records
// on it are protected by keys only the gateway and the truck share, so an
// alert read on it was sent by the gateway. That is where a real gateway's
// refusal of the truck's certificate arrives: in TLS 1.3 the client
// finishes its handshake before the server checks the client certificate,
// so the server's bad_certificate, certificate_revoked, unknown_ca or
// certificate_required alert comes on the first read.
//
// The fact is kept by connection: the request records each connection it
// was given (httptrace GotConn) or that was dialled for it (dialGateway),
// and the alert is believed only if the request had one and each is a
// *tls.Conn whose ConnectionState says HandshakeComplete. An error from a
// handshake that did not complete (a handshakeError, e.g. of a connection
// dialled when the transport retried the request) is never marked,
// whatever connection came before.
//
// VerifyConnection would not do as the marker: crypto/tls calls it when the
// server's Certificate message has been verified, before CertificateVerify,
// so an attacker replaying the gateway's public certificate could still
// send the alert.
//
// The HTTP/2 client can lose the alert: when the gateway refuses the
// truck's certificate before the first request went out on a new
// connection, net/http reports "client conn could not be established"
// without its cause, and the refusal is a network error. The session's
// upgrade runs over HTTP/1.1 and always keeps it.
func gatewayRequest(ctx context.Context) (context.Context, func(error) error) {
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	saw := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	ctx = context.WithValue(ctx, dialedKey{}, saw)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { saw(ci.Conn) }})
	return ctx, func(err error) error {
		var he *handshakeError
		if err == nil || errors.As(err, &he) {
			return err
		}
		mu.Lock()
		seen := slices.Clone(conns)
		mu.Unlock()
		if len(seen) == 0 {
			return err
		}
		for _, c := range seen {
			if tc, ok := c.(*tls.Conn); !ok || !tc.ConnectionState().HandshakeComplete {
				return err
			}
		}
		return markGatewayAlert(err)
	}
}

// dialedKey is the context key of gatewayRequest's record of the
// connections dialled for a request (net/http dials with a context that
// keeps the request's values).
type dialedKey struct{}

// gatewayAlert is an error holding a TLS alert the authenticated gateway
// sent.
type gatewayAlert struct {
	err   error
	alert *net.OpError
}

func (e *gatewayAlert) Error() string { return e.err.Error() }
func (e *gatewayAlert) Unwrap() error { return e.err }

// markGatewayAlert wraps err if it holds a received TLS alert (crypto/tls
// reports one as a *net.OpError with Op "remote error"); any other error is
// returned unchanged (io.EOF must stay io.EOF).
func markGatewayAlert(err error) error {
	var oe *net.OpError
	if err != nil && errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		return &gatewayAlert{err: err, alert: oe}
	}
	return err
}

package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// dialFunc dials a TCP connection (net.Dialer.DialContext, or Deps.DialContext).
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// gatewayTransport is the HTTP transport to the gateway (session upgrade,
// batch path, renewal, enrollment). It completes each TLS handshake itself,
// within handshakeTimeout, so that it knows which connections the gateway
// has authenticated: see gatewayConn.
func gatewayTransport(dial dialFunc, tc *tls.Config, handshakeTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialGateway(ctx, dial, tc, handshakeTimeout, network, addr)
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		Proxy:               nil,
	}
}

// dialGateway dials addr and completes the TLS handshake. A handshake error
// is returned as it is: whatever alert it carries came before the gateway
// had proven anything (one plaintext alert record before ServerHello is
// all an on-path attacker needs to send), so classifyDial reports it as a
// network error.
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
		return nil, err
	}
	return &gatewayConn{conn}, nil
}

// gatewayConn is a TLS 1.3 connection whose handshake completed: the
// gateway's certificate chain verified against GatewayCAPEM, its
// CertificateVerify signed this handshake and its Finished matched. Records
// on it are protected by keys only the gateway and the truck share, so an
// alert read on it was sent by the gateway. That is where a real gateway's
// refusal of the truck's certificate arrives: in TLS 1.3 the client
// finishes its handshake before the server checks the client certificate,
// so the server's bad_certificate, certificate_revoked, unknown_ca or
// certificate_required alert comes on the first read. Such an alert is
// wrapped as a gatewayAlert, and only a gatewayAlert is mapped to a typed
// refusal (revoked, expired, not enrolled).
//
// VerifyConnection would not do as the marker: crypto/tls calls it when the
// server's Certificate message has been verified, before CertificateVerify,
// so an attacker replaying the gateway's public certificate could still
// send the alert.
type gatewayConn struct{ *tls.Conn }

func (c *gatewayConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	return n, markGatewayAlert(err)
}

func (c *gatewayConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	return n, markGatewayAlert(err)
}

// gatewayAlert is a TLS alert the authenticated gateway sent.
type gatewayAlert struct{ err *net.OpError }

func (e *gatewayAlert) Error() string { return e.err.Error() }
func (e *gatewayAlert) Unwrap() error { return e.err }

// markGatewayAlert wraps err if it is a received TLS alert (crypto/tls
// reports one as a *net.OpError with Op "remote error"); any other error is
// returned unchanged (io.EOF must stay io.EOF).
func markGatewayAlert(err error) error {
	var oe *net.OpError
	if err != nil && errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		return &gatewayAlert{oe}
	}
	return err
}

package drill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// onPath is an attacker inside a drill truck's TLS path: a TLS terminator
// (or a gateway replica) that the truck trusts and that speaks to the
// gateway with the truck's own certificate, so it sees the session's
// WebSocket messages in clear and can add its own. It is the one place an
// attacker can replay a command envelope to a truck: outside TLS nothing
// can be injected.
//
// It is honest about what such an attacker holds: the truck pins this
// terminator's CA (as a truck behind a real terminator pins the
// terminator's), the gateway sees the truck's real certificate, and the
// terminator holds no gateway key: it can only pass on, drop or re-send
// the bytes the gateway signed. It takes the connection the truck's link
// dialed (silentLink.via), so ending the link ends it.
type onPath struct {
	host     string // the gateway's host name, as the truck dials it
	caPEM    []byte // what the truck pins as GatewayCAPEM
	cert     tls.Certificate
	upstream *tls.Config // to the gateway: the truck's certificate

	mu       sync.Mutex
	sessions []*onPathSession // WebSocket sessions relayed, oldest first
	commands []seenCommand    // command envelopes the gateway sent, in order
}

// seenCommand is a command envelope seen in clear on the path.
type seenCommand struct {
	raw     []byte // the WebSocket message: the signed envelope, exactly
	id      string // its command_id
	vehicle string // its vehicle_id
}

// onPathSession is one relayed WebSocket session: the writer towards the
// truck, shared by the relay and injections so that messages never
// interleave.
type onPathSession struct {
	mu   sync.Mutex
	down io.Writer
}

// newOnPath makes the terminator for the truck v dialing the target.
func newOnPath(t *Target, v *vehicle) (*onPath, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	roots, err := t.roots()
	if err != nil {
		return nil, err
	}
	o := &onPath{host: u.Hostname()}
	if o.caPEM, o.cert, err = terminatorCert(o.host); err != nil {
		return nil, err
	}
	chain := make([][]byte, len(v.creds.Chain))
	for i, c := range v.creds.Chain {
		chain[i] = c.Raw
	}
	o.upstream = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: o.host,
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: v.creds.TLSKey, Leaf: v.creds.Chain[0]}}}
	return o, nil
}

// terminatorCert makes a throw-away CA and a server certificate of it for
// host: what the truck behind the terminator trusts.
func terminatorCert(host string) ([]byte, tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drill on-path terminator CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(onPathCertLifetime), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(onPathCertLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(host); ip != nil {
		leaf.IPAddresses = []net.IP{ip}
	} else {
		leaf.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// via terminates the truck's TLS on raw, the connection its link dialed
// to the gateway: it returns the truck's end of an in-memory connection
// and relays between it and a TLS connection to the gateway over raw.
func (o *onPath) via(ctx context.Context, raw net.Conn) (net.Conn, error) {
	truckEnd, ours := net.Pipe()
	go o.serve(context.WithoutCancel(ctx), ours, raw)
	return truckEnd, nil
}

// serve runs one relayed connection. The ALPN the truck offers is offered
// upstream, and the truck is given what the gateway chose.
func (o *onPath) serve(ctx context.Context, truck, raw net.Conn) {
	var up *tls.Conn
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		uc := o.upstream.Clone()
		uc.NextProtos = hello.SupportedProtos
		up = tls.Client(raw, uc)
		hctx, cancel := context.WithTimeout(ctx, onPathHandshakeTimeout)
		defer cancel()
		if err := up.HandshakeContext(hctx); err != nil {
			return nil, err
		}
		c := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{o.cert}}
		if p := up.ConnectionState().NegotiatedProtocol; p != "" {
			c.NextProtos = []string{p}
		}
		return c, nil
	}}
	down := tls.Server(truck, cfg)
	hctx, cancel := context.WithTimeout(ctx, onPathHandshakeTimeout)
	err := down.HandshakeContext(hctx)
	cancel()
	if err != nil || up == nil {
		_ = truck.Close()
		_ = raw.Close()
		return
	}
	go func() {
		_, _ = io.Copy(up, down) // the truck's side passes untouched
		_ = up.Close()
	}()
	o.relay(down, up, up.ConnectionState().NegotiatedProtocol)
	_ = down.Close()
	_ = up.Close()
}

// relay copies the gateway's side to the truck. On an HTTP/1.1 connection
// whose answer is 101 (the session's WebSocket upgrade) it copies message
// by message, so that an injected message falls between two, and keeps
// each command envelope it sees; anything else passes as bytes.
func (o *onPath) relay(down io.Writer, up io.Reader, proto string) {
	br := bufio.NewReaderSize(up, 4096)
	if proto == "h2" {
		_, _ = io.Copy(down, br)
		return
	}
	var head bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		head.Write(line)
		if err != nil || head.Len() > onPathMaxHead {
			_, _ = down.Write(head.Bytes())
			return
		}
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
	}
	if _, err := down.Write(head.Bytes()); err != nil {
		return
	}
	if !bytes.HasPrefix(head.Bytes(), []byte("HTTP/1.1 101 ")) {
		_, _ = io.Copy(down, br)
		return
	}
	s := &onPathSession{down: down}
	o.mu.Lock()
	o.sessions = append(o.sessions, s)
	o.mu.Unlock()
	for {
		hdr, payload, err := readWSFrame(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		_, err = down.Write(append(hdr, payload...))
		s.mu.Unlock()
		if err != nil {
			return
		}
		// A final text frame is a whole message: the gateway sends each
		// envelope in one (compression is off on both sides).
		if hdr[0] == 0x80|0x1 {
			o.saw(payload)
		}
	}
}

// saw keeps payload if it is a command envelope (decoded, not verified:
// the terminator holds no gateway key and needs none to re-send bytes).
func (o *onPath) saw(payload []byte) {
	env, err := frame.ParseEnvelope(payload)
	if err != nil {
		return
	}
	f, err := env.DecodeFrame()
	if err != nil || f.Kind() != frame.KindCommand {
		return
	}
	c, ok := f.Body.(*frame.Command)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.commands) < maxOnPathCommands {
		o.commands = append(o.commands, seenCommand{raw: bytes.Clone(payload), id: c.CommandID, vehicle: f.VehicleID})
	}
}

// seen is every command envelope the gateway sent on this path.
func (o *onPath) seen() []seenCommand {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenCommand(nil), o.commands...)
}

// inject sends msg to the truck as a WebSocket text message of the
// gateway's on its newest session, between two of the gateway's.
func (o *onPath) inject(msg []byte) error {
	o.mu.Lock()
	var s *onPathSession
	if n := len(o.sessions); n > 0 {
		s = o.sessions[n-1]
	}
	o.mu.Unlock()
	if s == nil {
		return errors.New("no WebSocket session on the path to inject into")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.down.Write(append(wsTextHeader(len(msg)), msg...))
	return err
}

// wsTextHeader is the header of a server's WebSocket message of n bytes
// in one frame: final, text, unmasked (RFC 6455 §5.2).
func wsTextHeader(n int) []byte {
	hdr := []byte{0x80 | 0x1}
	switch {
	case n < 126:
		return append(hdr, byte(n))
	case n <= 0xffff:
		return append(hdr, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(hdr, 127), uint64(n))
	}
}

// readWSFrame reads one WebSocket frame: its header as read and its
// payload (unmasked, as a server sends it; a masked one is refused).
func readWSFrame(r *bufio.Reader) ([]byte, []byte, error) {
	hdr := make([]byte, 2, 14)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, err
	}
	if hdr[1]&0x80 != 0 {
		return nil, nil, errors.New("a masked frame from the server")
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		ext := make([]byte, 2)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, nil, err
		}
		hdr = append(hdr, ext...)
		n = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		ext := make([]byte, 8)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, nil, err
		}
		hdr = append(hdr, ext...)
		n = binary.BigEndian.Uint64(ext)
	}
	if n > onPathMaxFrame {
		return nil, nil, fmt.Errorf("a frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, nil, err
	}
	return hdr, payload, nil
}

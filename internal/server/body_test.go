package server

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// countingBody is a request body that records how much of it the client
// transport read, i.e. how much the server let the client send.
type countingBody struct {
	mu   sync.Mutex
	r    io.Reader
	n    int64
	done bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += int64(n)
	if err == io.EOF {
		c.done = true
	}
	return n, err
}

func (c *countingBody) read() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.done
}

// TestOversizeBodyProblemReachesClients: a 413 (and any answer given
// before the body was read) reaches an HTTP/2 client whole, as
// problem+json, through the admission path the binary serves HTTP/2 on,
// and over HTTP/1.1 too. Over HTTP/2 the server reads and discards the
// rest of the stream (within maxDrainBytes) instead of resetting it while
// the client is still sending, which made curl drop the answer (curl: (18)
// transfer closed with 219 bytes remaining), and it no longer answers
// "Connection: close", which over HTTP/2 sent GOAWAY and ended the
// connection's other streams: the next request reuses the connection.
func TestOversizeBodyProblemReachesClients(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	cfg := testConfig()
	cfg.HTTP.MaxBodyBytes = 64 << 10
	h := start(t, cfg, func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		routes := echoRoutes()
		// A handler that refuses before reading the body at all.
		routes["POST /v1/early"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "refused early", http.StatusUnsupportedMediaType)
		})
		d.VehicleRoutes = routes
		d.Admission = fa.admission(nil, 5*time.Second)
	})
	truck := ca.issue(t, "truck-1")
	// Over the limit, and over the 1 MiB a Go HTTP/2 server lets a stream
	// send before its handler reads (so a reset stream shows as a body the
	// client could not finish sending), within maxDrainBytes.
	over := 3 << 20

	for _, proto := range []string{"HTTP/2.0", "HTTP/1.1"} {
		tc := &tls.Config{RootCAs: h.roots, Certificates: []tls.Certificate{truck}}
		tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
		if proto == "HTTP/1.1" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no h2
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		t.Cleanup(client.CloseIdleConnections)
		do := func(t *testing.T, path string, body io.Reader, length int64) (*http.Response, []byte, bool) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, h.url(Vehicle, path), body)
			req.ContentLength = length
			reused := false
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the answer: %v (got %d bytes of %d)", err, len(b), resp.ContentLength)
			}
			if resp.Proto != proto {
				t.Fatalf("served over %s, want %s", resp.Proto, proto)
			}
			return resp, b, reused
		}
		for _, c := range []struct {
			name     string
			path     string
			declared bool
			status   int
		}{
			{"declared length over the limit", "/v1/echo", true, http.StatusRequestEntityTooLarge},
			{"streamed body over the limit", "/v1/echo", false, http.StatusRequestEntityTooLarge},
			{"answer before the body is read", "/v1/early", false, http.StatusUnsupportedMediaType},
		} {
			t.Run(proto+"/"+c.name, func(t *testing.T) {
				before := len(h.events.ByCode(codes.BodyTooLarge))
				body := &countingBody{r: bytes.NewReader(bytes.Repeat([]byte("a"), over))}
				length := int64(-1)
				if c.declared {
					length = int64(over)
				}
				resp, b, _ := do(t, c.path, body, length)
				if c.status == http.StatusRequestEntityTooLarge {
					wantProblem(t, resp, b, c.status, codes.BodyTooLarge)
					if n := len(h.events.ByCode(codes.BodyTooLarge)) - before; n != 1 {
						t.Fatalf("%d body_too_large events, want 1", n)
					}
				} else if resp.StatusCode != c.status || !strings.Contains(string(b), "refused early") {
					t.Fatalf("got %d %q", resp.StatusCode, b)
				}
				if proto != "HTTP/2.0" {
					return
				}
				// The stream was read to its end, not reset...
				if n, done := body.read(); !done || n != int64(over) {
					t.Fatalf("the client sent %d of %d bytes (EOF %v): the server reset the stream instead of draining it", n, over, done)
				}
				// ...and the connection stays up for the next request.
				resp, b, reused := do(t, "/v1/echo", strings.NewReader("ok"), 2)
				if resp.StatusCode != http.StatusOK || string(b) != "ok" || !reused {
					t.Fatalf("next request: %d %q, reused connection %v", resp.StatusCode, b, reused)
				}
			})
		}
	}

	// Draining is bounded: a body declared longer than maxDrainBytes is
	// not read; its stream is reset as before.
	t.Run("HTTP/2.0/declared length beyond the drain bound", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.roots, Certificates: []tls.Certificate{truck}}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		huge := 2 * maxDrainBytes
		body := &countingBody{r: bytes.NewReader(make([]byte, huge))}
		req, _ := http.NewRequest(http.MethodPost, h.url(Vehicle, "/v1/echo"), body)
		req.ContentLength = int64(huge)
		resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if n, _ := body.read(); n >= int64(huge) {
			t.Fatalf("the server let the client send all %d bytes of a body declared beyond the drain bound", n)
		}
	})
}

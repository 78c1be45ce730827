package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// HeaderRequestID carries the request's correlation id, in both directions.
const HeaderRequestID = "X-Request-ID"

// routeUnmatched labels requests that matched no registered pattern.
const routeUnmatched = "unmatched"

type infoKey struct{}

// reqInfo is what the outermost middleware learns about a request.
type reqInfo struct {
	id       string
	listener Listener
	route    string // a registered pattern or routeUnmatched
	matched  bool   // the mux has a handler for it (a route or a redirect)
}

// RequestID returns the correlation id of the request ctx belongs to, or "".
// Handlers put it in the events they emit (Event.CorrelationID).
func RequestID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return info.id
	}
	return ""
}

// validRequestID accepts 1 to maxRequestIDLen characters of [A-Za-z0-9._:-],
// so a client-chosen id is safe in headers, logs and event rows.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// handler builds one listener's handler: the outer middleware (request id,
// metrics, logging, panic recovery), the body limit, and the mux with its
// routing errors rendered as problem+json.
//
// gate, when not nil, is the client-certificate gate of a listener with
// Admission: requests without a verified client certificate reach only the
// patterns gate holds.
func (s *Server) handler(name Listener, routes Routes, gate map[string]bool) (http.Handler, error) {
	mux, patterns, err := buildMux(name, routes)
	if err != nil {
		return nil, err
	}
	inner := s.bodyLimit(routingErrors(mux))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer trackRequest(r)() // a request in progress keeps a certificate-less connection from idling out
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = event.NewID()
		}
		_, pat := mux.Handler(r)
		info := &reqInfo{id: id, listener: name, route: routeUnmatched, matched: pat != ""}
		if patterns[pat] {
			info.route = pat
		}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		w.Header().Set(HeaderRequestID, id)
		rec := &recorder{ResponseWriter: w}

		defer func() {
			v := recover()
			if v != nil && v != http.ErrAbortHandler {
				s.log.Error("panic serving request",
					slog.String("request_id", id), slog.String("listener", string(name)),
					slog.String("route", info.route), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				if !rec.wrote {
					problem.Write(rec, r, fmt.Errorf("panic: %v", v)) // 500 "internal", no detail
					v = nil
				} else {
					// The response has begun: a 500 can no longer be sent.
					// Abort the connection so the client sees a truncated
					// response, not a complete-looking one.
					v = http.ErrAbortHandler
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if v != nil {
				status = 0 // aborted: no status was sent
			}
			s.metrics.observe(name, info.route, status, time.Since(start))
			s.log.Debug("request", slog.String("request_id", id), slog.String("listener", string(name)),
				slog.String("method", r.Method), slog.String("route", info.route), slog.Int("status", status),
				slog.Duration("duration", time.Since(start)))
			if v != nil {
				panic(v) // http.ErrAbortHandler: net/http closes the connection quietly
			}
		}()
		if gate != nil && !s.requireClientCert(rec, r, info, gate[info.route]) {
			return
		}
		inner.ServeHTTP(rec, r)
	}), nil
}

// recorder notes the status a handler sends.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController and WebSocket libraries reach the
// connection (flush, hijack, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// routingErrors answers requests no route matches with problem+json: 404
// not_found, or 405 method_not_allowed with the Allow header the mux
// computed.
func routingErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey{}).(*reqInfo); ok && info.matched {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405, then render its verdict.
		c := &capture{h: http.Header{}}
		mux.ServeHTTP(c, r)
		if c.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", c.h.Get("Allow"))
			problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, codes.MethodNotAllowed,
				"this method is not allowed here; see the Allow header"))
			return
		}
		problem.Write(w, r, problem.New(http.StatusNotFound, codes.NotFound, "no such endpoint"))
	})
}

// capture swallows a response, keeping its status and headers.
type capture struct {
	h      http.Header
	status int
}

func (c *capture) Header() http.Header         { return c.h }
func (c *capture) Write(p []byte) (int, error) { return len(p), nil }
func (c *capture) WriteHeader(code int)        { c.status = code }

// bodyLimit caps request bodies at http.max_body_bytes. A body declared
// larger is refused before it is read; a body that turns out larger while
// being read is refused at that moment, whatever the handler does next. Each
// refusal answers 413 body_too_large and emits one security event.
//
// Over HTTP/2 the answer to a request whose body the handler did not read
// to the end (a 413, or any refusal made before reading) is sent only once
// the rest of the body has been read and discarded, within
// maxDrainBytes and drainTimeout (drainH2Body). Otherwise net/http ends the
// stream with RST_STREAM while the client is still sending, and clients
// that are busy sending (curl) drop the answer they have not read yet:
// "curl: (18) transfer closed with 219 bytes remaining to read".
func (s *Server) bodyLimit(next http.Handler) http.Handler {
	limit := s.cfg.HTTP.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ProtoMajor >= 2 {
			defer drainH2Body(w, r.Body, r.ContentLength)
		}
		if r.ContentLength > limit {
			s.refuseBody(w, r, limit)
			return
		}
		lw := &limitWriter{ResponseWriter: w}
		body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
		body.exceeded = func() {
			lw.mu.Lock()
			defer lw.mu.Unlock()
			if lw.refused {
				return
			}
			lw.refused = true
			if lw.wrote {
				// The handler answered before reading everything; it keeps
				// its answer, the event is still recorded.
				s.emitBodyTooLarge(r, limit)
				return
			}
			s.refuseBody(w, r, limit)
		}
		r.Body = body
		next.ServeHTTP(lw, r)
	})
}

func (s *Server) refuseBody(w http.ResponseWriter, r *http.Request, limit int64) {
	s.emitBodyTooLarge(r, limit)
	if r.ProtoMajor < 2 {
		// HTTP/1.1: do not read the rest of an oversize body. (Over HTTP/2
		// this would send GOAWAY and end every other stream of the
		// connection; bodyLimit drains the one stream instead.)
		w.Header().Set("Connection", "close")
	}
	problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, codes.BodyTooLarge,
		fmt.Sprintf("the request body exceeds the limit of %d bytes", limit)))
}

func (s *Server) emitBodyTooLarge(r *http.Request, limit int64) {
	info, _ := r.Context().Value(infoKey{}).(*reqInfo)
	if info == nil {
		info = &reqInfo{route: routeUnmatched}
	}
	var source string // aggregated when the peer proved nothing
	if !verified(r) {
		source = event.SourceOf(r.RemoteAddr)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), eventTimeout)
	defer cancel()
	err := s.events.Emit(ctx, event.Event{
		Class:         event.ClassAPI,
		Activity:      "request_refused",
		Severity:      event.SeverityMedium,
		Verdict:       event.Reject,
		Code:          codes.BodyTooLarge,
		Resource:      string(info.listener) + ":" + info.route,
		CorrelationID: info.id,
		Source:        source,
		Attrs: map[string]any{
			"listener":       string(info.listener),
			"route":          info.route,
			"method":         event.BoundString(r.Method),
			"path":           event.BoundString(r.URL.Path),
			"limit_bytes":    limit,
			"content_length": r.ContentLength,
			"remote_ip":      remoteIP(r),
		},
	})
	if err != nil {
		s.log.Error("recording body_too_large event failed", slog.String("request_id", info.id), slog.Any("err", err))
	}
}

// remoteIP is the request's peer address without its port, for events.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return event.BoundString(host)
}

// drainH2Body reads and discards what is left of an HTTP/2 request body
// once its handler is done and before its answer is sent (net/http sends a
// handler's buffered answer when the handler returns), so the stream ends
// as a normal exchange rather than with RST_STREAM while the client is
// still sending. It reads at most maxDrainBytes, for at most drainTimeout;
// a body declared longer than that is not read at all, and its stream is
// reset as before. A body already read to the end costs one Read.
func drainH2Body(w http.ResponseWriter, body io.Reader, declared int64) {
	if declared > maxDrainBytes {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.CopyN(io.Discard, body, maxDrainBytes)
}

// limitedBody reports the moment a MaxBytesReader refuses to read more.
type limitedBody struct {
	io.ReadCloser
	exceeded func()
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.exceeded()
		}
	}
	return n, err
}

// limitWriter drops whatever a handler writes after the body limit already
// answered 413.
type limitWriter struct {
	http.ResponseWriter
	mu      sync.Mutex
	wrote   bool
	refused bool
}

func (w *limitWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refused && !w.wrote {
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *limitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refused && !w.wrote {
		return len(p), nil
	}
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *limitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Endpoint is one client's webhook, its secret opened.
type Endpoint struct {
	URL    string
	Secret []byte
}

// ErrNoEndpoint: the client has no webhook (never set, or cleared since
// the message was enqueued). Its messages become dead letters.
var ErrNoEndpoint = errors.New("webhook: the client has no webhook")

// Endpoints looks up a client's webhook; ErrNoEndpoint if it has none.
type Endpoints interface {
	Endpoint(ctx context.Context, client string) (Endpoint, error)
}

// Outbox is the part of the store the Sender uses.
type Outbox interface {
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.WebhookMessage, error)
	MarkWebhookDelivered(ctx context.Context, id int64, at time.Time) error
	RescheduleWebhook(ctx context.Context, id int64, next time.Time) error
	MarkWebhookDead(ctx context.Context, id int64) error
}

// Config is the Sender's settings; zero fields take the defaults of
// limits.go.
type Config struct {
	Timeout     time.Duration
	Lease       time.Duration
	MaxAttempts int
	MaxAge      time.Duration
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	Batch       int
	Interval    time.Duration
	// AllowPrivate lets the Sender dial loopback, private and other
	// non-global addresses (package doc). Off by default.
	AllowPrivate bool
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, DefaultTimeout)
	def(&c.Lease, DefaultLease)
	def(&c.MaxAge, DefaultMaxAge)
	def(&c.BaseBackoff, DefaultBaseBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.Interval, DefaultInterval)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
}

func (c Config) valid() error {
	switch {
	case c.Timeout < 0 || c.Lease < 2*c.Timeout:
		return fmt.Errorf("webhook: the lease (%v) must be at least twice the timeout (%v)", c.Lease, c.Timeout)
	case c.MaxAttempts < 1 || c.Batch < 1 || c.MaxAge <= 0 || c.Interval <= 0:
		return errors.New("webhook: attempts, batch, max age and interval must be positive")
	case c.BaseBackoff <= 0 || c.MaxBackoff < c.BaseBackoff:
		return errors.New("webhook: back-off must be positive and its maximum at least its base")
	}
	return nil
}

// Deps are the Sender's collaborators.
type Deps struct {
	Outbox    Outbox
	Endpoints Endpoints
	Events    event.Emitter
	Log       *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// RootCAs verify receivers' certificates (the system roots if nil;
	// tests give httptest's).
	RootCAs *x509.CertPool
}

// Sender delivers the outbox (package doc).
type Sender struct {
	cfg    Config
	deps   Deps
	client *http.Client
}

// system is the actor of the Sender's events.
var system = principal.Principal{Kind: principal.System, ID: "gateway"}

// NewSender validates cfg and returns a Sender.
func NewSender(cfg Config, deps Deps) (*Sender, error) {
	cfg.defaults()
	if err := cfg.valid(); err != nil {
		return nil, err
	}
	if deps.Outbox == nil || deps.Endpoints == nil || deps.Events == nil {
		return nil, errors.New("webhook: an outbox, endpoints and an event emitter are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: dialControl(cfg.AllowPrivate)}
	tr := &http.Transport{
		// No Proxy: a proxy would dial for us, past the address check.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: deps.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// Redirects are never followed: a 3xx is a failed attempt.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{cfg: cfg, deps: deps, client: client}, nil
}

// Run delivers until ctx ends, polling every Interval.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.deps.Log.Warn("webhook: delivery round failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			s.client.CloseIdleConnections()
			return
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due messages and attempts each; it returns
// how many were delivered.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	ms, err := s.deps.Outbox.ClaimWebhooks(ctx, s.deps.Now(), s.cfg.Lease, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("webhook: claim: %w", err)
	}
	delivered := 0
	var errs []error
	for _, m := range ms {
		// The claim leased m until m.NextAttemptAt. Send only while a whole
		// attempt fits in what is left, so no other replica can claim m
		// while this one is sending it; otherwise leave it to the next claim.
		if !s.deps.Now().Add(s.cfg.Timeout).Before(m.NextAttemptAt) {
			continue
		}
		ok, err := s.attempt(ctx, m)
		if ok {
			delivered++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return delivered, errors.Join(errs...)
}

// attempt sends m once and records the outcome.
func (s *Sender) attempt(ctx context.Context, m store.WebhookMessage) (bool, error) {
	ep, err := s.deps.Endpoints.Endpoint(ctx, m.Client)
	if errors.Is(err, ErrNoEndpoint) {
		return false, s.dead(ctx, m, "no_webhook", 0)
	}
	if err != nil {
		return false, s.failed(ctx, m, "endpoint_lookup", 0)
	}
	status, reason := s.post(ctx, m, ep)
	if reason == "" {
		if err := s.deps.Outbox.MarkWebhookDelivered(ctx, m.ID, s.deps.Now()); err != nil {
			return true, fmt.Errorf("webhook: record delivery of %d: %w", m.ID, err)
		}
		return true, nil
	}
	return false, s.failed(ctx, m, reason, status)
}

// post makes one request; reason is "" on a 2xx answer.
func (s *Sender) post(ctx context.Context, m store.WebhookMessage, ep Endpoint) (status int, reason string) {
	if ValidateURL(ep.URL) != nil {
		return 0, "bad_url"
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(m.Body))
	if err != nil {
		return 0, "bad_url"
	}
	id := strconv.FormatInt(m.ID, 10)
	ts := strconv.FormatInt(s.deps.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fifthwheel-webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(ep.Secret, id, ts, m.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, classify(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBody))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, ""
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, "redirect_not_followed"
	default:
		return resp.StatusCode, "status"
	}
}

// classify turns a transport error into a stable reason (the error text
// may carry the URL; events carry the reason only).
func classify(err error) string {
	var ne net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, ErrRefusedAddress):
		return "refused_address"
	case errors.As(err, &certErr):
		return "tls_verification"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "transport"
	}
}

// failed reschedules m with back-off, or makes it a dead letter after
// MaxAttempts or MaxAge.
func (s *Sender) failed(ctx context.Context, m store.WebhookMessage, reason string, status int) error {
	now := s.deps.Now()
	if m.Attempts >= s.cfg.MaxAttempts || now.Sub(m.CreatedAt) >= s.cfg.MaxAge {
		return s.dead(ctx, m, reason, status)
	}
	next := now.Add(s.backoff(m.Attempts))
	if err := s.deps.Outbox.RescheduleWebhook(ctx, m.ID, next); err != nil {
		return fmt.Errorf("webhook: reschedule %d: %w", m.ID, err)
	}
	return s.emit(ctx, codes.WebhookDeliveryFailed, m, reason, status, map[string]any{"next_attempt_at": next.UTC().Format(time.RFC3339Nano)})
}

func (s *Sender) dead(ctx context.Context, m store.WebhookMessage, reason string, status int) error {
	if err := s.deps.Outbox.MarkWebhookDead(ctx, m.ID); err != nil {
		return fmt.Errorf("webhook: dead-letter %d: %w", m.ID, err)
	}
	return s.emit(ctx, codes.WebhookDeadLettered, m, reason, status, nil)
}

func (s *Sender) emit(ctx context.Context, code string, m store.WebhookMessage, reason string, status int, attrs map[string]any) error {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["message_id"] = m.ID
	attrs["event_type"] = m.EventType
	attrs["attempt"] = m.Attempts
	attrs["reason"] = reason
	if status != 0 {
		attrs["status"] = status
	}
	sev, verdict := event.SeverityLow, event.Info
	if code == codes.WebhookDeadLettered {
		sev = event.SeverityMedium
	}
	return s.deps.Events.Emit(ctx, event.Event{Class: event.ClassCommand, Activity: "webhook", Severity: sev,
		Actor: system, Resource: principal.Principal{Kind: principal.Client, ID: m.Client}.String(), Verdict: verdict, Code: code, Attrs: attrs})
}

// backoff is the delay after attempt n (1 for the first): BaseBackoff
// doubled per attempt up to MaxBackoff, drawn uniformly from its upper half.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.MaxBackoff
	if n < 1 {
		n = 1
	}
	if n-1 < 40 {
		if b := s.cfg.BaseBackoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

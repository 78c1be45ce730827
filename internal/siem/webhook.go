package siem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

// DeadLetters is what the webhook sink needs of the store.
type DeadLetters interface {
	AddSIEMDeadLetter(ctx context.Context, d store.SIEMDeadLetter) (int64, bool, error)
}

// WebhookConfig configures the SIEM webhook. Zero values take defaults.
type WebhookConfig struct {
	URL         string // https URL
	Secret      []byte // package webhook's rule: 32 to 64 bytes
	TLS         *tls.Config
	Batch       int           // events per POST (DefaultWebhookBatch)
	MaxAttempts int           // attempts of a batch before it is a dead letter
	MaxAge      time.Duration // time since a batch's first failure before it is a dead letter
	Timeout     time.Duration // one POST
	Product     ocsf.Product
	Now         func() time.Time
}

// WebhookDeps are the webhook sink's collaborators.
type WebhookDeps struct {
	Store  DeadLetters
	Events event.Emitter // records siem_dead_lettered
}

// Webhook is the SIEM webhook sink.
type Webhook struct {
	cfg    WebhookConfig
	deps   WebhookDeps
	client *http.Client

	mu      sync.Mutex
	pending *attempt // the batch being retried
}

// attempt is the state of a batch that failed: the same batch (same first
// position and size) is sent again until it is delivered or dead.
type attempt struct {
	from     store.StreamPos
	count    int
	attempts int
	first    time.Time
	lastErr  string
	// emitFailed: the dead letter is stored, its event not yet.
	emitFailed bool
}

// NewWebhook returns the sink after checking cfg.
func NewWebhook(cfg WebhookConfig, deps WebhookDeps) (*Webhook, error) {
	if err := webhook.ValidateURL(cfg.URL); err != nil {
		return nil, err
	}
	if len(cfg.Secret) < webhook.MinSecret || len(cfg.Secret) > webhook.MaxSecret {
		return nil, fmt.Errorf("siem: the webhook secret must be %d to %d bytes", webhook.MinSecret, webhook.MaxSecret)
	}
	if deps.Store == nil || deps.Events == nil {
		return nil, errors.New("siem: the webhook sink needs the store and the event emitter")
	}
	cfg.Secret = bytes.Clone(cfg.Secret) // the caller may clear its copy
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultWebhookBatch
	}
	if cfg.Batch > MaxWebhookBatch {
		return nil, fmt.Errorf("siem: a webhook batch is at most %d events", MaxWebhookBatch)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultWebhookMaxAge
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.Product.Name == "" {
		cfg.Product = ocsf.DefaultProduct
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConns: 2, IdleConnTimeout: time.Minute,
		TLSHandshakeTimeout: cfg.Timeout, ResponseHeaderTimeout: cfg.Timeout}
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Webhook{cfg: cfg, deps: deps, client: client}, nil
}

// Name is the sink's stream consumer name.
func (w *Webhook) Name() string { return SinkWebhook }

func (w *Webhook) network() {}

// Body is the webhook's JSON body.
type Body struct {
	Events []json.RawMessage `json:"events"`
}

// Handle posts evs in batches, in order (tail.Handler). A failed batch is
// reported as an error (the tail retries it with back-off); once it has
// failed MaxAttempts times or for MaxAge, it is stored as a dead letter and
// counted done.
func (w *Webhook) Handle(ctx context.Context, evs []store.StreamEvent) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	done := 0
	for done < len(evs) {
		n := min(w.cfg.Batch, len(evs)-done)
		if p := w.pending; p != nil && p.from == evs[done].Pos && p.count <= len(evs)-done {
			n = p.count // the batch that failed, again: the same events
		} else if p != nil && p.from != evs[done].Pos {
			w.pending = nil // another consumer delivered it meanwhile (lease moved): forget it
		}
		batch := evs[done : done+n]
		body, err := w.body(batch)
		if err != nil {
			return done, err
		}
		if p := w.pending; p != nil && p.from == batch[0].Pos && w.exhausted(p) {
			// Given up already; its dead letter or event is what failed.
			if err := w.deadLetter(ctx, batch, body); err != nil {
				return done, err
			}
		} else if err := w.post(ctx, batch, body); err != nil {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			if !w.failed(batch, err) {
				return done, err
			}
			if err := w.deadLetter(ctx, batch, body); err != nil {
				return done, err
			}
		} else {
			w.pending = nil
		}
		done += n
	}
	return done, nil
}

func (w *Webhook) body(batch []store.StreamEvent) ([]byte, error) {
	b := Body{Events: make([]json.RawMessage, len(batch))}
	for i := range batch {
		line, err := ocsf.Marshal(batch[i].EventRow, w.cfg.Product)
		if err != nil {
			return nil, err
		}
		b.Events[i] = line
	}
	return json.Marshal(b)
}

// batchID is the Webhook-Id of a batch: stable for the same events, so
// every attempt carries the same id.
func batchID(batch []store.StreamEvent) string {
	h := sha256.New()
	for _, e := range batch {
		h.Write([]byte(e.ID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (w *Webhook) post(ctx context.Context, batch []store.StreamEvent, body []byte) error {
	id := batchID(batch)
	ts := strconv.FormatInt(w.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(w.cfg.Secret, id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("siem webhook: %v", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBody))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("siem webhook: the receiver answered %s", resp.Status)
	}
	return nil
}

// failed counts a failure of batch and reports whether the batch is now
// given up (MaxAttempts or MaxAge reached).
func (w *Webhook) failed(batch []store.StreamEvent, cause error) (exhausted bool) {
	p := w.pending
	if p == nil || p.from != batch[0].Pos {
		p = &attempt{from: batch[0].Pos, count: len(batch), first: w.cfg.Now()}
		w.pending = p
	}
	p.attempts++
	p.lastErr = cause.Error()
	return w.exhausted(p)
}

func (w *Webhook) exhausted(p *attempt) bool {
	return p.attempts >= w.cfg.MaxAttempts || w.cfg.Now().Sub(p.first) >= w.cfg.MaxAge
}

// deadLetter stores the given-up batch and records siem_dead_lettered,
// once: a batch whose row exists already (a re-delivery after a crash)
// records no second event; a failure of either leaves the batch pending,
// to be retried without posting it again.
func (w *Webhook) deadLetter(ctx context.Context, batch []store.StreamEvent, body []byte) error {
	p := w.pending
	lastErr := p.lastErr
	if len(lastErr) > store.MaxSIEMDeadLetterError {
		lastErr = lastErr[:store.MaxSIEMDeadLetterError]
	}
	d := store.SIEMDeadLetter{Sink: w.Name(), FromPos: batch[0].Pos, ToPos: batch[len(batch)-1].Pos,
		FirstEvent: batch[0].ID, LastEvent: batch[len(batch)-1].ID, Count: len(batch), Attempts: p.attempts,
		LastError: lastErr, Body: body, CreatedAt: w.cfg.Now()}
	if len(body) > store.MaxSIEMDeadLetterBody {
		// Not kept whole (the store would refuse it, and the sink would be
		// stuck): the events are in the store, first to last.
		d.Body = nil
	}
	id, created, err := w.deps.Store.AddSIEMDeadLetter(ctx, d)
	if err != nil {
		return fmt.Errorf("siem webhook: store the dead letter: %v", err)
	}
	if created || p.emitFailed {
		if err := w.deps.Events.Emit(ctx, event.Event{
			Class: event.ClassSystem, Activity: "siem_delivery", Severity: codes.SeverityOf(codes.SIEMDeadLettered, event.SeverityMedium),
			Actor: principal.Principal{Kind: principal.System, ID: "siem"}, Resource: w.Name(), Verdict: event.Reject,
			Code: codes.SIEMDeadLettered,
			Attrs: map[string]any{"dead_letter": id, "first_event": d.FirstEvent, "last_event": d.LastEvent,
				"count": d.Count, "attempts": d.Attempts, "error": lastErr},
		}); err != nil {
			p.emitFailed = true
			return fmt.Errorf("siem webhook: record the dead letter's event: %v", err)
		}
	}
	w.pending = nil
	return nil
}

package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Publishing the checkpoint to the TMS clients that audit the gateway
// (issue 21: "so a customer holds a copy the gateway cannot rewrite").
//
// A Publisher enqueues an audit.checkpoint message in the durable webhook
// outbox (package webhook sends it, signed with each client's secret) for
// every active TMS client that has a webhook and whose roles grant
// audit:read (authz.RoleScopes: auditor, security-admin), at most once
// per Every and only when the log grew since the last publication.
//
// Who publishes: only a sequencer that grew the log offers it a
// checkpoint (Sequencer's OnCheckpoint), so a replica that does not
// sequence publishes nothing. Replicas share the last publication (size
// and time) through a store setting, so sequencing moving between
// replicas does not publish more often than Every.
//
// Delivery is at least once, not exactly once: the messages are enqueued
// after the sequencer's transaction has committed (the checkpoint is
// durable before anyone is told of it), then the shared state is written.
// A crash between the two re-publishes the same or a later checkpoint on
// the next growth; a crash before the enqueue publishes a later checkpoint
// on the next growth instead (which proves everything the lost one did).
// A receiver keeps the largest size it verified; an equal or smaller one
// tells it nothing new.

// WebhookCheckpoint is the webhook message type of a published checkpoint
// (the body's "type" and the outbox's event_type).
const WebhookCheckpoint = "audit.checkpoint"

// publishedSetting is the store setting holding the last publication.
const publishedSetting = "audit.webhook_published"

// CheckpointMessage is the body of an audit.checkpoint webhook message.
// Checkpoint is the signed note exactly as the log signed it: a receiver
// verifies it with the log's verifier key (`fifthwheel audit key`), and
// trusts Origin and Size only from it.
type CheckpointMessage struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"time"` // when the sequencer signed the checkpoint
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"`
	Checkpoint string    `json:"checkpoint"`
}

// PublishStore is what a Publisher reads and writes.
type PublishStore interface {
	ListClients(ctx context.Context) ([]store.Client, error)
	GetClientWebhook(ctx context.Context, client string) (store.ClientWebhook, error)
	EnqueueWebhook(ctx context.Context, m store.WebhookMessage) (int64, error)
	GetSetting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Every is the least time between two publications; DefaultPublishEvery
	// when zero (the configuration's 0, "off", means no Publisher at all).
	Every time.Duration
}

// PublisherDeps are a Publisher's collaborators.
type PublisherDeps struct {
	Store  PublishStore
	Origin string
	Log    *slog.Logger // nil: slog.Default()
	Now    func() time.Time
}

// Publisher publishes checkpoints to the auditing clients' webhooks.
type Publisher struct {
	cfg  PublisherConfig
	deps PublisherDeps
	wake chan struct{}

	mu     sync.Mutex
	latest store.AuditCheckpoint // the newest checkpoint offered
	last   published             // the last publication this replica knows of
}

type published struct {
	Size uint64    `json:"size"`
	At   time.Time `json:"at"`
}

// NewPublisher validates cfg and deps.
func NewPublisher(deps PublisherDeps, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Every == 0 {
		cfg.Every = DefaultPublishEvery
	}
	if cfg.Every < MinPublishEvery {
		return nil, fmt.Errorf("audit: publish every %v (at least %v)", cfg.Every, MinPublishEvery)
	}
	if deps.Store == nil {
		return nil, errors.New("audit: a Publisher needs a Store")
	}
	if err := ValidOrigin(deps.Origin); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Publisher{cfg: cfg, deps: deps, wake: make(chan struct{}, 1)}, nil
}

// Offer hands the Publisher a checkpoint the caller's sequencer just
// stored (the Sequencer's OnCheckpoint). It never blocks: Run publishes.
func (p *Publisher) Offer(_ context.Context, cp store.AuditCheckpoint) {
	p.mu.Lock()
	if cp.Size > p.latest.Size {
		p.latest = cp
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run publishes offered checkpoints until ctx ends: when one is newer than
// the last publication and Every has passed since it. A failed publication
// is logged and retried after PublishRetry.
func (p *Publisher) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, err := p.Publish(ctx)
		if err != nil && ctx.Err() == nil {
			p.deps.Log.ErrorContext(ctx, "audit: cannot publish the checkpoint to the webhooks", slog.Any("err", err))
			wait = min(p.cfg.Every, PublishRetry)
		}
		var due <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-due:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// Publish runs one publication attempt now: it enqueues the newest offered
// checkpoint for every auditing client if it is due, and returns how long
// until the next attempt is due (0: nothing waits to be published).
func (p *Publisher) Publish(ctx context.Context) (wait time.Duration, err error) {
	p.mu.Lock()
	cp, last := p.latest, p.last
	p.mu.Unlock()
	if cp.Size <= last.Size {
		return 0, nil
	}
	now := p.deps.Now()
	if d := last.At.Add(p.cfg.Every).Sub(now); d > 0 {
		return d, nil
	}
	// Another replica may have published since: the shared state decides.
	shared, err := p.shared(ctx)
	if err != nil {
		return 0, err
	}
	if shared.Size > last.Size || shared.At.After(last.At) {
		p.remember(shared)
		return p.Publish(ctx)
	}
	n, err := p.enqueue(ctx, cp, now)
	if err != nil {
		return 0, err
	}
	done := published{Size: cp.Size, At: now}
	raw, err := json.Marshal(done)
	if err == nil {
		err = p.deps.Store.PutSetting(ctx, publishedSetting, raw)
	}
	if err != nil {
		return 0, fmt.Errorf("audit: %d messages enqueued, the publication not recorded: %w", n, err)
	}
	p.remember(done)
	p.deps.Log.DebugContext(ctx, "audit: checkpoint published", slog.Uint64("size", cp.Size), slog.Int("clients", n))
	return 0, nil
}

func (p *Publisher) remember(d published) {
	p.mu.Lock()
	if d.Size > p.last.Size || d.At.After(p.last.At) {
		p.last = d
	}
	p.mu.Unlock()
}

// shared reads the last publication of any replica (zero: none yet). A
// malformed value is an error: publishing goes on only once an operator
// has looked (fail closed would stop publishing for good; the error is
// logged every PublishRetry).
func (p *Publisher) shared(ctx context.Context) (published, error) {
	raw, err := p.deps.Store.GetSetting(ctx, publishedSetting)
	if errors.Is(err, store.ErrNotFound) {
		return published{}, nil
	}
	if err != nil {
		return published{}, err
	}
	var d published
	if err := json.Unmarshal(raw, &d); err != nil {
		return published{}, fmt.Errorf("audit: setting %s: %v", publishedSetting, err)
	}
	return d, nil
}

// enqueue puts cp in the outbox of every auditing client with a webhook
// and returns how many.
func (p *Publisher) enqueue(ctx context.Context, cp store.AuditCheckpoint, now time.Time) (int, error) {
	to, err := AuditingClients(ctx, p.deps.Store)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(CheckpointMessage{Type: WebhookCheckpoint, Time: cp.CreatedAt.UTC(), Origin: p.deps.Origin,
		Size: cp.Size, Checkpoint: string(cp.Note)})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range to {
		if _, err := p.deps.Store.EnqueueWebhook(ctx, store.WebhookMessage{Client: c, EventType: WebhookCheckpoint, Body: body,
			NextAttemptAt: now, CreatedAt: now}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ClientStore is what AuditingClients reads.
type ClientStore interface {
	ListClients(ctx context.Context) ([]store.Client, error)
	GetClientWebhook(ctx context.Context, client string) (store.ClientWebhook, error)
}

// AuditingClients returns, by id, the clients a checkpoint is published
// to: active, with a webhook, and holding a role that grants audit:read
// (the scope of the checkpoint and proof routes). A role name this
// version does not know grants nothing.
func AuditingClients(ctx context.Context, st ClientStore) ([]string, error) {
	cs, err := st.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		if c.Status != store.ClientActive {
			continue
		}
		var roles []authz.Role
		for _, name := range c.Roles {
			if r, ok := authz.ParseRole(name); ok {
				roles = append(roles, r)
			}
		}
		if !authz.Grants(roles, authz.AuditRead) {
			continue
		}
		switch _, err := st.GetClientWebhook(ctx, c.ID); {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, c.ID)
	}
	return out, nil
}

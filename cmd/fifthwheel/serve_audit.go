package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// auditOrigin is the log's origin: audit.origin if set; else the stored
// log key's (so a change of server names does not make a gateway refuse
// its own log); else, for a store without a log, cfg.AuditOrigin().
func auditOrigin(ctx context.Context, cfg config.Config, st store.AuditStore) (string, error) {
	origin := cfg.Audit.Origin
	if origin == "" {
		k, err := st.GetAuditLogKey(ctx)
		switch {
		case err == nil:
			origin = k.Origin
		case errors.Is(err, store.ErrNotFound):
			origin = cfg.AuditOrigin()
		default:
			return "", fmt.Errorf("read the audit log key: %v", err)
		}
	}
	if err := audit.ValidOrigin(origin); err != nil {
		return "", fmt.Errorf("audit.origin: %v", err)
	}
	return origin, nil
}

// startAudit loads (or, on a fresh store, creates) the log key, sealed
// under the gateway's secrets key like the token-signing keys, and starts
// the sequencer on bg. Every replica runs one; the store's lease lets one
// step at a time through. A drain that grew the log publishes the
// checkpoint: to audit.publish_file, and (audit.Publisher, at most every
// audit.publish_webhook_every) to the auditing clients' webhooks. A store key of another origin than the
// configured one refuses the start (audit.ErrKeyOrigin).
func startAudit(ctx, bg context.Context, cfg config.Config, st store.Store, sealer audit.Sealer,
	events event.Emitter, log *slog.Logger) (*audit.LogKey, error) {
	origin, err := auditOrigin(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	key, err := audit.LoadOrCreateKey(ctx, st, sealer, origin, time.Now())
	if err != nil {
		return nil, fmt.Errorf("the audit log key: %v", err)
	}
	deps := audit.SequencerDeps{Store: st, Key: key, Log: log}
	var publish []func(context.Context, store.AuditCheckpoint)
	if path := cfg.AuditPublishPath(); path != "" {
		publish = append(publish, func(ctx context.Context, cp store.AuditCheckpoint) { publishCheckpoint(ctx, path, cp, log) })
	}
	if every := cfg.Audit.PublishWebhookEvery; every > 0 {
		pub, err := audit.NewPublisher(audit.PublisherDeps{Store: st, Origin: origin, Log: log}, audit.PublisherConfig{Every: every})
		if err != nil {
			return nil, err
		}
		go pub.Run(bg)
		publish = append(publish, pub.Offer)
	}
	if len(publish) > 0 {
		deps.OnCheckpoint = func(ctx context.Context, cp store.AuditCheckpoint) {
			for _, f := range publish {
				f(ctx, cp)
			}
		}
	}
	seq, err := audit.NewSequencer(deps, audit.SequencerConfig{})
	if err != nil {
		return nil, err
	}
	go runSequencer(bg, seq, events, log)
	return key, nil
}

// runSequencer runs seq until ctx ends. A log that does not match its
// checkpoint stops it (fail closed: sequencing on would fork the log) with
// a high-severity event; ingest goes on and its items stay pending.
func runSequencer(ctx context.Context, seq *audit.Sequencer, events event.Emitter, log *slog.Logger) {
	err := seq.Run(ctx)
	if !errors.Is(err, store.ErrAuditInconsistent) {
		return
	}
	log.Error("audit: the stored log does not match its latest checkpoint; the sequencer stopped (run `fifthwheel audit verify`)",
		slog.Any("err", err))
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventEmitTimeout)
	defer cancel()
	if eerr := events.Emit(ectx, event.Event{
		Class:    event.ClassSystem,
		Activity: "audit_sequence",
		Severity: event.SeverityHigh,
		Actor:    gatewayActor,
		Verdict:  event.Reject,
		Code:     codes.AuditLogInconsistent,
		Attrs:    map[string]any{"reason": err.Error()},
	}); eerr != nil {
		log.Error("cannot record the audit_log_inconsistent event", slog.Any("err", eerr))
	}
}

// publishCheckpoint writes the signed checkpoint to path atomically (mode
// 0644: it is public). A failure is logged; the next checkpoint tries again.
func publishCheckpoint(ctx context.Context, path string, cp store.AuditCheckpoint, log *slog.Logger) {
	if err := atomicfile.Write(path, cp.Note, 0o644); err != nil {
		log.WarnContext(ctx, "audit: cannot publish the checkpoint", slog.String("path", path), slog.Any("err", err))
	}
}

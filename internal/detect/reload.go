package detect

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// Reload re-reads the rules file and puts it in force if it validates
// (detection_rules_loaded); an invalid file is refused with its errors
// (detection_rules_refused) and the rule set in force stays. The serve
// command calls it on SIGHUP; the watcher calls it when the file changes.
// With the shipped rules there is nothing to re-read: it records the set
// in force again.
func (d *Detector) Reload(ctx context.Context) error {
	return d.reload(ctx, "sighup")
}

func (d *Detector) reload(ctx context.Context, why string) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.cfg.RulesFile != "" {
		d.stamp = statFile(d.cfg.RulesFile)
	}
	set, err := LoadRules(d.cfg.RulesFile)
	if err != nil {
		d.emitRefused(ctx, err, why)
		return err
	}
	d.mu.Lock()
	d.eng = newEngineFrom(set, d.eng)
	d.mu.Unlock()
	d.emitLoaded(ctx, set, why)
	return nil
}

// watch polls the rules file every ReloadPoll and reloads it when its size
// or modification time changed and its content differs from the set in
// force. Polling rather than inotify: an editor's or a ConfigMap's atomic
// rename replaces the watched inode, and a stat a second costs nothing.
func (d *Detector) watch(ctx context.Context) {
	t := time.NewTicker(ReloadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.reloadMu.Lock()
		st := statFile(d.cfg.RulesFile)
		changed := st != d.stamp
		d.reloadMu.Unlock()
		if !changed {
			continue
		}
		if data, err := readBounded(d.cfg.RulesFile); err == nil && hashOf(data) == d.Rules().Hash {
			d.reloadMu.Lock()
			d.stamp = st // touched, not changed
			d.reloadMu.Unlock()
			continue
		}
		_ = d.reload(ctx, "file_changed")
	}
}

func statFile(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

func (d *Detector) emitLoaded(ctx context.Context, set *RuleSet, why string) {
	d.deps.Log.Info("detection rules in force", slog.String("source", set.Source), slog.Int("rules", len(set.Rules)),
		slog.String("hash", set.Hash), slog.String("why", why))
	d.emit(ctx, event.Event{Class: event.ClassDetection, Activity: "rules", Severity: event.SeverityInfo, Actor: detectActor,
		Verdict: event.Accept, Code: codes.DetectionRulesLoaded,
		Attrs: map[string]any{"source": set.Source, "count": len(set.Rules), "hash": set.Hash, "why": why}})
}

func (d *Detector) emitRefused(ctx context.Context, err error, why string) {
	var msgs []string
	var res RuleErrors
	if errors.As(err, &res) {
		for _, e := range res {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = []string{err.Error()}
	}
	n := len(msgs)
	msgs = msgs[:min(n, MaxReportedErrors)]
	attrs := map[string]any{"source": d.cfg.RulesFile, "errors": msgs, "error_count": n, "why": why}
	if data, rerr := readBounded(d.cfg.RulesFile); rerr == nil {
		attrs["hash"] = hashOf(data)
	}
	d.deps.Log.Error("detection rules refused; the rule set in force stays", slog.String("source", d.cfg.RulesFile),
		slog.Int("errors", n), slog.String("first", msgs[0]), slog.String("why", why))
	d.emit(ctx, event.Event{Class: event.ClassDetection, Activity: "rules", Severity: codes.SeverityOf(codes.DetectionRulesRefused, event.SeverityMedium),
		Actor: detectActor, Verdict: event.Reject, Code: codes.DetectionRulesRefused, Attrs: attrs})
}

// emit records an event about the rule set; a failure is logged (the
// rule set's state does not depend on it).
func (d *Detector) emit(ctx context.Context, ev event.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.deps.Events.Emit(ctx, ev); err != nil {
		d.deps.Log.Error("recording a detection rules event failed", slog.String("code", ev.Code), slog.Any("err", err))
	}
}

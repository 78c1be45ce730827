package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// retentionCmd is `fifthwheel retention`: the retention of raw telemetry
// (docs/OPERATIONS.md, "Retention of raw telemetry").
func (a *app) retentionCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "retention",
		Short: "Purge stored frame payloads past their retention",
		Long: `serve purges the payloads (frame bytes and signatures) of frames older than
telemetry.retention (default 2160h, 90 days) every 10 minutes. Each frame keeps
its hash, key id and verdict: an exact re-send is still a duplicate, and the
audit log's proofs still verify.`,
	})
	cmd.AddCommand(a.retentionPurgeCmd())
	return cmd
}

func (a *app) retentionPurgeCmd() *cobra.Command {
	var (
		f      stateFlags
		op     operatorFlag
		before string
	)
	cmd := &cobra.Command{
		Use:   "purge [--before DURATION|TIME]",
		Short: "Run one full purge now and print how many frame payloads it emptied",
		Example: `  fifthwheel retention purge --data ./fw-data
  fifthwheel retention purge --before 720h --data ./fw-data
  fifthwheel retention purge --before 2026-09-01T00:00:00Z --store postgres://...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cut, err := purgeCutoff(before, now, e.cfg.Telemetry.Retention)
				if err != nil {
					return err
				}
				n, err := ingest.PurgeBefore(ctx, e.st, cut, now)
				if n > 0 {
					if eerr := e.emitAction(ctx, ingest.PurgedEvent(by, n, cut, "cli")); eerr != nil {
						return eerr
					}
				}
				if err != nil {
					return fmt.Errorf("purged %d frame payloads, then: %v", n, err)
				}
				fmt.Fprintf(a.stdout, "purged %d frame payloads older than %s (hashes kept)\n", n, cut.Format(time.RFC3339))
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	cmd.Flags().StringVar(&before, "before", "", "purge frames older than `DURATION` (720h) or before TIME (RFC 3339); default: telemetry.retention")
	return cmd
}

// purgeCutoff is the frame time below which a purge empties payloads: from
// --before (a duration back from now, or an RFC 3339 time), else the
// configured retention. A cut-off in the future, or none at all (retention
// 0 and no --before), is refused.
func purgeCutoff(before string, now time.Time, keep time.Duration) (time.Time, error) {
	if before == "" {
		if keep <= 0 {
			return time.Time{}, &usageError{err: errors.New("telemetry.retention is 0 (keep forever): pass --before to purge anyway")}
		}
		return now.Add(-keep), nil
	}
	if d, err := time.ParseDuration(before); err == nil {
		if d <= 0 {
			return time.Time{}, &usageError{err: fmt.Errorf("--before %s: a duration must be positive (how old a frame must be)", before)}
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, before)
	if err != nil {
		return time.Time{}, &usageError{err: fmt.Errorf("--before %q: neither a duration (720h) nor an RFC 3339 time (2026-09-01T00:00:00Z)", before)}
	}
	if t.After(now) {
		return time.Time{}, &usageError{err: fmt.Errorf("--before %s is in the future", before)}
	}
	return t.UTC(), nil
}

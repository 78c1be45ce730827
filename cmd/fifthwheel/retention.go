package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// retentionCmd is `fifthwheel retention`: the retention of raw telemetry
// and of resolved incidents (docs/OPERATIONS.md, "Retention of raw
// telemetry" and "Retention of resolved incidents").
func (a *app) retentionCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "retention",
		Short: "Purge stored frame payloads and resolved incidents past their retention",
		Long: `serve purges, at start and every 10 minutes:
  - the payloads (frame bytes and signatures) of frames older than
    telemetry.retention (default 2160h, 90 days). Each frame keeps its hash,
    key id and verdict: an exact re-send is still a duplicate, and the audit
    log's proofs still verify;
  - incidents resolved more than incidents.retention ago (default 17520h,
    2 years, from the resolution), with their findings, clocks, notes,
    transitions, notifications and containment actions. Unresolved
    incidents are never purged; the incidents' events stay in the audit log.`,
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
		Short: "Run one full purge now and print, per kind, how much it purged",
		Example: `  fifthwheel retention purge --data ./fw-data
  fifthwheel retention purge --before 720h --data ./fw-data
  fifthwheel retention purge --before 2026-09-01T00:00:00Z --store postgres://...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cut, purgeFrames, err := purgeCutoff(before, now, e.cfg.Telemetry.Retention)
				if err != nil {
					return err
				}
				// Frame payloads.
				if !purgeFrames {
					fmt.Fprintln(a.stdout, "kept every frame payload (telemetry.retention is 0; --before purges anyway)")
				} else {
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
				}
				// Resolved incidents: always by incidents.retention (--before
				// is for frame payloads only).
				icut, ok, err := incident.Cutoff(now, e.cfg.Incidents.Retention)
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(a.stdout, "kept every resolved incident (incidents.retention is 0)")
					return nil
				}
				n, err := incident.PurgeResolved(ctx, e.st, icut)
				if n > 0 {
					if eerr := e.emitAction(ctx, incident.PurgedEvent(by, n, icut, "cli")); eerr != nil {
						return eerr
					}
				}
				if err != nil {
					return fmt.Errorf("purged %d resolved incidents, then: %v", n, err)
				}
				fmt.Fprintf(a.stdout, "purged %d incidents resolved before %s (unresolved ones kept)\n", n, icut.Format(time.RFC3339))
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	cmd.Flags().StringVar(&before, "before", "", "purge frame payloads older than `DURATION` (720h) or before TIME (RFC 3339); default: telemetry.retention. Resolved incidents always go by incidents.retention")
	return cmd
}

// purgeCutoff is the frame time below which a purge empties payloads: from
// --before (a duration back from now, or an RFC 3339 time), else the
// configured retention; ok is false when there is none (retention 0, keep
// forever, and no --before). A cut-off in the future is refused.
func purgeCutoff(before string, now time.Time, keep time.Duration) (cut time.Time, ok bool, err error) {
	if before == "" {
		if keep <= 0 {
			return time.Time{}, false, nil
		}
		return now.Add(-keep), true, nil
	}
	cut, err = parseBefore(before, now)
	return cut, err == nil, err
}

// parseBefore reads --before: a positive duration back from now, or an
// RFC 3339 time not in the future.
func parseBefore(before string, now time.Time) (time.Time, error) {
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

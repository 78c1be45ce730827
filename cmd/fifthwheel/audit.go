package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// auditCmd is `fifthwheel audit`: the tamper-evident audit log's signed
// checkpoint, its verification against a checkpoint saved earlier, its
// latest entries and its public key (docs/AUDIT.md).
func (a *app) auditCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "audit",
		Short: "Read and verify the tamper-evident audit log",
		Long: `The audit log covers every stored frame, security event and command: a
Merkle tree with checkpoints signed by the log key. Save a checkpoint outside
the gateway ('audit checkpoint --save'), and later 'audit verify --since' it:
any row edited, deleted, inserted or reordered since is named with its index.`,
	})
	cmd.AddCommand(a.auditCheckpointCmd(), a.auditVerifyCmd(), a.auditTailCmd(), a.auditKeyCmd())
	return cmd
}

// withAuditStore opens the state read for an audit command and runs fn.
func (a *app) withAuditStore(cmd *cobra.Command, f *stateFlags, fn func(context.Context, store.Store) error) error {
	e, err := a.openState(cmd, f, false)
	if err != nil {
		return err
	}
	defer e.close()
	return fn(cmd.Context(), e.st)
}

func latestCheckpoint(ctx context.Context, st store.AuditStore) (store.AuditCheckpoint, error) {
	cp, err := st.LatestAuditCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return cp, errors.New("the audit log has no checkpoint yet: a running gateway signs one within a second of the first stored item")
	}
	return cp, err
}

func (a *app) auditCheckpointCmd() *cobra.Command {
	var f stateFlags
	var save string
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the latest signed checkpoint (a C2SP signed note)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAuditStore(cmd, &f, func(ctx context.Context, st store.Store) error {
				cp, err := latestCheckpoint(ctx, st)
				if err != nil {
					return err
				}
				if save != "" {
					if err := atomicfile.Write(save, cp.Note, 0o644); err != nil {
						return fmt.Errorf("save the checkpoint: %v", err)
					}
				}
				_, err = a.stdout.Write(cp.Note)
				return err
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&save, "save", "", "also write the checkpoint to `FILE` (keep it outside the gateway)")
	return cmd
}

// auditVerifier is the log key to verify with: --log-key FILE (a verifier
// key the auditor keeps), else the one in the store. The store's is enough
// against row tampering: the saved checkpoint, signed by the real key,
// does not verify under a key swapped in the database.
func auditVerifier(ctx context.Context, st store.AuditStore, keyFile string) (note.Verifier, error) {
	var vkey string
	if keyFile != "" {
		b, err := readBounded(keyFile, 4<<10)
		if err != nil {
			return nil, &usageError{err: fmt.Errorf("--log-key: %v", err)}
		}
		vkey = strings.TrimSpace(string(b))
	} else {
		k, err := st.GetAuditLogKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("the audit log key: %v", err)
		}
		vkey = k.Verifier
	}
	return audit.NewVerifier(vkey)
}

// errVerifyFailed is verify's exit 1 after the findings are printed.
var errVerifyFailed = errors.New("audit verify: the log does not verify (findings above)")

func (a *app) auditVerifyCmd() *cobra.Command {
	var f stateFlags
	var since, keyFile string
	cmd := &cobra.Command{
		Use:   "verify --since CHECKPOINT_FILE",
		Short: "Prove the log extends a saved checkpoint and recompute it from the stored rows",
		Long: `Verify proves the current log extends the checkpoint saved in CHECKPOINT_FILE
(a consistency proof) and recomputes every leaf and root from the stored items
and the frame, event and command rows they cover. Every finding is printed
with its index (leaf, and position in the leaf); the exit status is 1 if there
is any.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since == "" {
				return &usageError{err: errors.New("audit verify needs --since CHECKPOINT_FILE (saved by 'audit checkpoint --save')")}
			}
			saved, err := readBounded(since, audit.MaxCheckpointBytes)
			if err != nil {
				return &usageError{err: fmt.Errorf("--since: %v", err)}
			}
			return a.withAuditStore(cmd, &f, func(ctx context.Context, st store.Store) error {
				v, err := auditVerifier(ctx, st, keyFile)
				if err != nil {
					return err
				}
				r, err := audit.Verify(ctx, st, v, saved, audit.VerifyOptions{Source: audit.StoreSource{Rows: st}})
				if err != nil {
					return fmt.Errorf("audit verify: %v", err)
				}
				return printVerify(a.stdout, r)
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&since, "since", "", "the checkpoint saved earlier, `FILE`")
	cmd.Flags().StringVar(&keyFile, "log-key", "", "verify with the verifier key in `FILE` ('audit key'), not the store's")
	return cmd
}

// printVerify prints r's findings, one a line, or the success line.
func printVerify(w io.Writer, r *audit.Report) error {
	if r.OK() {
		fmt.Fprintf(w, "verified: size %d extends size %d (%d leaves, %d items recomputed)\n", r.Current.Size, r.Saved.Size, r.Leaves, r.Items)
		return nil
	}
	for _, fd := range r.Findings {
		fmt.Fprintf(w, "FINDING %s\n", fd)
	}
	if r.Capped {
		fmt.Fprintf(w, "FINDING more than %d findings; the rest are not listed\n", audit.MaxFindings)
	}
	fmt.Fprintf(w, "NOT VERIFIED: %d findings (saved size %d, current size %d)\n", len(r.Findings), r.Saved.Size, r.Current.Size)
	return errVerifyFailed
}

// auditTailPage is how many items `audit tail` reads at a time.
const auditTailPage = 4096

func (a *app) auditTailCmd() *cobra.Command {
	var f stateFlags
	var n int
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the latest leaves of the log and the items they cover",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > 1000 {
				return &usageError{err: fmt.Errorf("-n %d: 1 to 1000 leaves", n)}
			}
			return a.withAuditStore(cmd, &f, func(ctx context.Context, st store.Store) error {
				cp, err := latestCheckpoint(ctx, st)
				if err != nil {
					return err
				}
				from := uint64(0)
				if cp.Size > uint64(n) {
					from = cp.Size - uint64(n)
				}
				leaves, err := st.AuditLeaves(ctx, from, cp.Size, n)
				if err != nil {
					return err
				}
				sequenced := make(map[uint64]time.Time, len(leaves))
				for _, l := range leaves {
					sequenced[l.Index] = l.SequencedAt
				}
				pending, err := st.PendingAuditItems(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "size %d, %d items pending\n", cp.Size, pending)
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "LEAF\tPOS\tKIND\tREF\tHASH\tSEQUENCED")
				// The items a page at a time: up to 1,000 leaves of up to
				// 8,192 items each are not read at once.
				var after *store.AuditItemKey
				for {
					items, err := st.AuditItems(ctx, from, cp.Size, after, auditTailPage)
					if err != nil {
						return err
					}
					for _, it := range items {
						at, ok := sequenced[it.Leaf]
						if !ok {
							continue // an item of a leaf with no row: `audit verify` names it
						}
						fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", it.Leaf, it.Pos, it.Kind, it.Ref, hex.EncodeToString(it.Hash), at.Format(time.RFC3339))
					}
					if err := tw.Flush(); err != nil { // a page's columns; memory stays a page
						return err
					}
					if len(items) < auditTailPage {
						break
					}
					after = items[len(items)-1].Key()
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().IntVarP(&n, "n", "n", 10, "the last `N` leaves")
	return cmd
}

func (a *app) auditKeyCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Print the log's public key as a signed-note verifier key",
		Long: `Key prints the log's public key as a signed-note verifier key
("origin+hash+base64"): give it to auditors, who verify checkpoints and
proofs with it alone ('audit verify --log-key', 'forensics verify --log-key').`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAuditStore(cmd, &f, func(ctx context.Context, st store.Store) error {
				k, err := st.GetAuditLogKey(ctx)
				if errors.Is(err, store.ErrNotFound) {
					return errors.New("the store has no audit log key yet: 'fifthwheel serve' creates it")
				}
				if err != nil {
					return err
				}
				if _, err := audit.NewVerifier(k.Verifier); err != nil {
					return fmt.Errorf("the stored log key: %v", err)
				}
				fmt.Fprintln(a.stdout, k.Verifier)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

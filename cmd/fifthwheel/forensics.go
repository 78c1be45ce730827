package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/forensics"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// forensicsCmd is 'fifthwheel forensics': export a vehicle's evidence as a
// signed bundle, verify one offline, and record its chain of custody
// (package forensics, docs/FORENSICS.md).
func (a *app) forensicsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "forensics",
		Short: "Export, verify and hand over forensic bundles of a vehicle's evidence",
		Long: `A forensic bundle (tar.gz) holds one vehicle's evidence over a window: its raw
signed frames as received, its latest signed heartbeat, its certificates and
frame keys, its commands, its security events, an inclusion proof into the
audit log for every logged item against one signed checkpoint, a manifest
signed with the audit log key, and an append-only custody log.
'forensics verify' checks it with no gateway, network or store.`,
	})
	custody := group(&cobra.Command{Use: "custody", Short: "Record the chain of custody inside a bundle"})
	custody.AddCommand(a.forensicsCustodyAddCmd(), a.forensicsCustodyKeygenCmd())
	cmd.AddCommand(a.forensicsExportCmd(), a.forensicsVerifyCmd(), custody)
	return cmd
}

func (a *app) forensicsExportCmd() *cobra.Command {
	var (
		f               stateFlags
		op              operatorFlag
		vehicle, caseID string
		out, until      string
		since, wait     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "export --vehicle ID --since 15m --case CASE-ID --out bundle.tar.gz",
		Short: "Export a vehicle's evidence as a signed bundle (reads the store; no gateway needed)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if vehicle == "" || caseID == "" || out == "" || since <= 0 {
				return &usageError{err: errors.New("export needs --vehicle, --since (> 0), --case and --out"),
					hint: "see 'fifthwheel forensics export --help'"}
			}
			now := time.Now().UTC()
			end := now
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return &usageError{err: fmt.Errorf("--until: %v (RFC 3339, e.g. 2026-12-05T19:30:00Z)", err)}
				}
				end = t.UTC()
			}
			if _, err := os.Stat(out); err == nil {
				return &usageError{err: fmt.Errorf("%s exists: a bundle is never overwritten", out)}
			}
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			defer e.close()
			by, err := op.actor(ctx, e)
			if err != nil {
				return err
			}
			b, sum, err := a.exportBundle(ctx, e, forensics.ExportRequest{Vehicle: vehicle, Since: end.Add(-since),
				Until: end, Case: caseID, ExportedBy: by.String(), Now: now, Wait: wait})
			if err != nil {
				return err
			}
			if err := atomicfile.CreateExclusive(out, b, 0o600); err != nil {
				return fmt.Errorf("writing %s: %v", out, err)
			}
			h, err := recordExport(ctx, e, by, vehicle, caseID, end.Add(-since), end, b, sum)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (sha256 %x): %d frames, %d events, %d commands, %d certificates, %d frame keys, heartbeat %v\n",
				out, h, sum.Frames, sum.Events, sum.Commands, sum.Certs, sum.Keys, sum.Heartbeat)
			fmt.Fprintf(a.stdout, "%d items proven against the checkpoint of size %d\n", sum.Covered, sum.CheckpointSize)
			if sum.Purged > 0 {
				fmt.Fprintf(a.stdout, "%d frames purged by retention: listed with their kept hash, no envelope\n", sum.Purged)
			}
			for reason, n := range sum.Uncovered {
				fmt.Fprintf(a.stdout, "%d not covered by the log: %s (listed in the manifest)\n", n, reason)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&vehicle, "vehicle", "", "the vehicle `ID`")
	fl.DurationVar(&since, "since", 0, "the window: this long before --until (e.g. 15m)")
	fl.StringVar(&until, "until", "", "end of the window, RFC 3339 (default: now)")
	fl.StringVar(&caseID, "case", "", "the case `ID` the bundle is for")
	fl.StringVar(&out, "out", "", "the bundle `FILE` to write (never overwritten)")
	fl.DurationVar(&wait, "wait", forensics.DefaultWait, "how long to wait for the sequencer to cover pending items")
	return cmd
}

func (a *app) forensicsVerifyCmd() *cobra.Command {
	var logKey string
	var custodians []string
	cmd := &cobra.Command{
		Use:   "verify BUNDLE --log-key FILE [--custodian-key FILE]...",
		Short: "Verify a bundle offline: every signature, proof, hash and the custody chain",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if logKey == "" {
				return &usageError{err: errors.New("verify needs --log-key FILE (the output of 'fifthwheel audit key')")}
			}
			v, err := readVerifierKey(logKey)
			if err != nil {
				return &usageError{err: fmt.Errorf("--log-key: %v", err)}
			}
			var cvs []note.Verifier
			for _, p := range custodians {
				cv, err := readVerifierKey(p)
				if err != nil {
					return &usageError{err: fmt.Errorf("--custodian-key %s: %v", p, err)}
				}
				cvs = append(cvs, cv)
			}
			b, err := readFileBounded(args[0], forensics.MaxBundleSize)
			if err != nil {
				return err
			}
			r := forensics.Verify(b, v, cvs)
			for _, l := range r.Lines() {
				fmt.Fprintln(a.stdout, l)
			}
			for _, c := range r.Checks {
				if c.OK && c.Detail != "" {
					fmt.Fprintf(a.stdout, "note %s %s: %s\n", c.Name, c.File, c.Detail)
				}
			}
			if r.Purged > 0 {
				fmt.Fprintf(a.stdout, "note %d frames purged by retention: their kept hash is proven in the log, their payload and signature are gone\n", r.Purged)
			}
			if r.Uncovered > 0 {
				fmt.Fprintf(a.stdout, "WARN %d files are not covered by the audit log (the manifest's uncovered lines say why)\n", r.Uncovered)
			}
			if failed := r.Failed(); len(failed) > 0 {
				return fmt.Errorf("%s: NOT verified: %d checks failed, first: %s", args[0], len(failed), failed[0])
			}
			fmt.Fprintf(a.stdout, "verified: case %s, vehicle %s, exported by %s\n", r.Case, r.Vehicle, r.ExportedBy)
			return nil
		},
	}
	cmd.Flags().StringVar(&logKey, "log-key", "", "the audit log's verifier key `FILE` ('fifthwheel audit key')")
	cmd.Flags().StringArrayVar(&custodians, "custodian-key", nil, "a custodian's verifier key `FILE` ('forensics custody keygen'); repeatable")
	return cmd
}

func (a *app) forensicsCustodyAddCmd() *cobra.Command {
	var by, action, text, keyFile string
	cmd := &cobra.Command{
		Use:   "add BUNDLE --by NAME --action transferred|received|analysed --note TEXT [--key FILE]",
		Short: "Append a custody entry to a bundle, chained to the manifest and the previous entry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var signer note.Signer
			if keyFile != "" {
				b, err := readFileBounded(keyFile, 4096)
				if err != nil {
					return err
				}
				if signer, err = note.NewSigner(strings.TrimSpace(string(b))); err != nil {
					return &usageError{err: fmt.Errorf("--key %s: not a signed-note private key", keyFile)}
				}
				if signer.Name() != by {
					return &usageError{err: fmt.Errorf("--key %s is %s's key, not --by %s's", keyFile, signer.Name(), by)}
				}
			}
			b, err := readFileBounded(args[0], forensics.MaxBundleSize)
			if err != nil {
				return err
			}
			nb, err := forensics.AddCustody(b, forensics.CustodyEntry{By: by, Action: action, Note: text, At: time.Now()}, signer)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(args[0], nb, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "custody entry added to %s (signed: %v)\n", args[0], signer != nil)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who records the entry")
	cmd.Flags().StringVar(&action, "action", "", "transferred, received or analysed")
	cmd.Flags().StringVar(&text, "note", "", "free text")
	cmd.Flags().StringVar(&keyFile, "key", "", "the custodian's signed-note private key `FILE` ('forensics custody keygen')")
	return cmd
}

func (a *app) forensicsCustodyKeygenCmd() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --out FILE",
		Short: "Make a custodian's Ed25519 signed-note key (FILE) and its verifier key (FILE.pub)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || out == "" {
				return &usageError{err: errors.New("keygen needs --name and --out")}
			}
			skey, vkey, err := forensics.GenerateCustodianKey(name)
			if err != nil {
				return &usageError{err: err}
			}
			if err := atomicfile.CreateExclusive(out, []byte(skey+"\n"), 0o600); err != nil {
				return fmt.Errorf("writing %s: %v", out, err)
			}
			if err := atomicfile.CreateExclusive(out+".pub", []byte(vkey+"\n"), 0o644); err != nil {
				return fmt.Errorf("writing %s.pub: %v", out, err)
			}
			fmt.Fprintln(a.stdout, vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the custodian's name (as given to --by)")
	cmd.Flags().StringVar(&out, "out", "", "the private key `FILE` to write")
	return cmd
}

// exportBundle exports req from e's store, signed with the audit log key
// (opened with the gateway's secrets key, never created here: the CLI
// does not start a log), the fleet root and intermediates from the CA
// directory.
func (a *app) exportBundle(ctx context.Context, e *stateEnv, req forensics.ExportRequest) ([]byte, *forensics.Summary, error) {
	dir, err := pkiDir(e.cfg)
	if err != nil {
		return nil, nil, err
	}
	kek, err := a.kek(e.cfg)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := openSecretsKey(dir, kek, e.log)
	if err != nil {
		return nil, nil, err
	}
	rec, err := e.st.GetAuditLogKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errors.New("the audit log has no key yet: no gateway has run its sequencer on this store (start 'fifthwheel serve')")
	}
	if err != nil {
		return nil, nil, err
	}
	key, err := audit.LoadOrCreateKey(ctx, e.st, sealer, rec.Origin, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if req.FleetRoot, err = pki.LoadRoot(dir); err != nil {
		return nil, nil, fmt.Errorf("the fleet root in %s: %v", dir, err)
	}
	trust, err := pki.LoadTrust(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("the fleet CA in %s: %v", dir, err)
	}
	req.Intermediates = trust.Certificates()
	b, sum, err := forensics.Export(ctx, e.st, key, req)
	if err != nil {
		return nil, nil, err
	}
	return b, sum, nil
}

// recordExport records the export's security event and returns the
// bundle's SHA-256.
func recordExport(ctx context.Context, e *stateEnv, by principal.Principal, vehicle, caseID string, since, until time.Time,
	b []byte, sum *forensics.Summary) ([sha256.Size]byte, error) {
	h := sha256.Sum256(b)
	notCovered := 0
	for _, n := range sum.Uncovered {
		notCovered += n
	}
	err := e.emitAction(ctx, event.Event{Class: event.ClassSystem, Activity: "forensic_export", Verdict: event.Info,
		Severity: event.SeverityLow, Code: codes.ForensicBundleExported, Actor: by,
		Resource: principal.Principal{Kind: principal.Vehicle, ID: vehicle}.String(), Attrs: map[string]any{"case": caseID,
			"since": since.Format(time.RFC3339), "until": until.Format(time.RFC3339),
			"sha256": fmt.Sprintf("%x", h), "covered": sum.Covered, "not_covered": notCovered}})
	return h, err
}

// bundleExporter is the drills' ExportBundle: an export from e's store
// by by, recorded like the CLI's, with the log's verifier key.
func (a *app) bundleExporter(e *stateEnv, by principal.Principal) func(context.Context, string, time.Duration, string) ([]byte, string, error) {
	return func(ctx context.Context, vehicle string, since time.Duration, caseID string) ([]byte, string, error) {
		now := time.Now().UTC()
		b, sum, err := a.exportBundle(ctx, e, forensics.ExportRequest{Vehicle: vehicle, Since: now.Add(-since), Until: now.Add(time.Second),
			Case: caseID, ExportedBy: by.String(), Now: now})
		if err != nil {
			return nil, "", err
		}
		if _, err := recordExport(ctx, e, by, vehicle, caseID, now.Add(-since), now, b, sum); err != nil {
			return nil, "", err
		}
		rec, err := e.st.GetAuditLogKey(ctx)
		if err != nil {
			return nil, "", err
		}
		return b, rec.Verifier, nil
	}
}

// readVerifierKey reads a signed-note verifier key from a file.
func readVerifierKey(path string) (note.Verifier, error) {
	b, err := readFileBounded(path, 4096)
	if err != nil {
		return nil, err
	}
	return audit.NewVerifier(strings.TrimSpace(string(b)))
}

// readFileBounded reads a file of at most limit bytes.
func readFileBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return b, nil
}

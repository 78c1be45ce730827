package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

func (a *app) pkiCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "pki",
		Short: "Run the fleet certificate authority",
		Long: `Run the fleet certificate authority: the root (kept offline) and the online
intermediate that issues vehicle, TMS client, operator and gateway
certificates, join tokens for vehicle enrollment, and revocation.

The CA lives in the CA directory (pki.dir, default DATA/pki). Its private
keys are encrypted with a key-encryption key (KEK): the passphrase in
FIFTHWHEEL_CA_PASSPHRASE, or a random key in a file (--kek-file FILE, or
pki.kek_file). A CA made with --dev keeps such a file in the data directory.

Every command records a security event; the actor is the operator whose
credential is in --as DIR (default DATA/operator), or the CLI itself.`,
	})
	cmd.AddCommand(a.pkiInitCmd(), a.pkiIssueCmd(), a.pkiJoinTokenCmd(), a.pkiRevokeCmd(), a.pkiListCmd(), a.pkiIntermediateCmd())
	return cmd
}

// caStateFlags are the state flags plus --kek-file.
func caStateFlags() stateFlags {
	return stateFlags{paths: map[string]string{"kek-file": "pki.kek_file"}}
}

func registerKEKFlag(cmd *cobra.Command) {
	cmd.Flags().String("kek-file", "", "the CA keys' key-encryption key is in `FILE` (pki.kek_file); default: the passphrase in "+config.PassphraseEnv)
}

// addCACommands adds to parent a group's subcommands on the CA directory,
// each with the state flags f and --kek-file: list, which only reads, and
// the changes, which also take --as (op) for the operator they record.
func addCACommands(parent *cobra.Command, f *stateFlags, op *operatorFlag, list *cobra.Command, changes ...*cobra.Command) {
	for _, c := range append([]*cobra.Command{list}, changes...) {
		f.register(c.Flags())
		registerKEKFlag(c)
		if c != list {
			op.register(c)
		}
		parent.AddCommand(c)
	}
}

func (a *app) pkiInitCmd() *cobra.Command {
	var (
		f       = caStateFlags()
		dev     bool
		rootKey string
		keyAlg  string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the fleet CA: a root and an online intermediate",
		Long: `Create the fleet CA in the CA directory (pki.dir, default DATA/pki): a root
certificate and key, and an issuing intermediate signed by it.

The root key is written to its own file (--root-key, default DIR/root.key),
encrypted like every CA key. It is needed only to add an intermediate
(rotation): move it to offline storage now. The intermediate key stays
online; the gateway signs with it.

The KEK that encrypts the keys is, exactly one of:
  FIFTHWHEEL_CA_PASSPHRASE   a passphrase (Argon2id); production default
  --kek-file FILE            a random 256-bit key in FILE (created 0600 if absent)
  --dev                      a random key file in the data directory (DATA/pki.kek)

The intermediate is recorded in the store and the creation is recorded as a
security event.`,
		Example: `  # Production: passphrase from a secret manager, root key straight to removable media
  FIFTHWHEEL_CA_PASSPHRASE=... fifthwheel pki init --data /var/lib/fifthwheel --root-key /media/offline/root.key

  # Local trial
  fifthwheel pki init --dev --data ./fw-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.openState(cmd, &f, true)
			if err != nil {
				return err
			}
			defer e.close()
			dir, err := pkiDir(e.cfg)
			if err != nil {
				return err
			}
			if caExists(dir) {
				return fmt.Errorf("%s already holds a fleet CA; nothing changed", dir)
			}
			alg, err := parseKeyAlg(keyAlg)
			if err != nil {
				return err
			}
			kek, kekDesc, err := a.initKEK(e.cfg, dev)
			if err != nil {
				return err
			}
			// No operator credential can exist before its CA: the CLI acts.
			res, err := initCA(cmd.Context(), e, dir, rootKey, alg, kek, cliActor)
			if err != nil {
				return err
			}
			fp := sha256.Sum256(res.Root.Raw)
			fmt.Fprintf(a.stdout, "fleet CA created in %s\n", dir)
			fmt.Fprintf(a.stdout, "  root          %s\n", res.Root.Subject.CommonName)
			fmt.Fprintf(a.stdout, "  root SHA-256  %s\n", hex.EncodeToString(fp[:]))
			fmt.Fprintf(a.stdout, "  intermediate  %s (issuing)\n", res.IntermediateKeyID)
			fmt.Fprintf(a.stdout, "  keys          encrypted with %s\n", kekDesc)
			fmt.Fprintf(a.stdout, "  root key      %s\n", res.RootKeyFile)
			fmt.Fprintf(a.stdout, "Move the root key offline: it is needed only to add an intermediate.\n")
			return nil
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	cmd.Flags().BoolVar(&dev, "dev", false, "development: encrypt the CA keys with a random key file in the data directory")
	cmd.Flags().StringVar(&rootKey, "root-key", "", "write the encrypted root key to `FILE` (default: CA directory/root.key); keep it offline")
	cmd.Flags().StringVar(&keyAlg, "key-alg", string(pki.ECDSAP256), "CA key `ALGORITHM`: ECDSA-P256 or Ed25519")
	return cmd
}

func parseKeyAlg(s string) (pki.KeyAlgorithm, error) {
	switch pki.KeyAlgorithm(s) {
	case pki.ECDSAP256, pki.Ed25519:
		return pki.KeyAlgorithm(s), nil
	}
	return "", &usageError{err: fmt.Errorf("key algorithm %q: want ECDSA-P256 or Ed25519", s)}
}

// initKEK picks the KEK of a new CA: exactly one of the passphrase,
// --kek-file (created if absent) or --dev.
func (a *app) initKEK(cfg config.Config, dev bool) (pki.KeyEncrypter, string, error) {
	pass := a.getenv(config.PassphraseEnv)
	file := cfg.KEKPath()
	n := 0
	for _, set := range []bool{pass != "", file != "", dev} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, "", &usageError{err: fmt.Errorf("choose how the CA keys are encrypted: set %s, pass --kek-file FILE, or --dev", config.PassphraseEnv)}
	case n > 1:
		return nil, "", &usageError{err: fmt.Errorf("give only one of %s, --kek-file and --dev", config.PassphraseEnv)}
	case pass != "":
		k, err := pki.NewPassphraseKEK([]byte(pass))
		return k, "the passphrase in " + config.PassphraseEnv, err
	case dev:
		if cfg.DataDir == "" {
			return nil, "", &usageError{err: errors.New("--dev keeps its key file in the data directory: pass --data DIR")}
		}
		file = filepath.Join(cfg.DataDir, devKEKFile)
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		if err := pki.CreateKeyFile(file); err != nil {
			return nil, "", err
		}
	}
	k, err := pki.LoadKeyFileKEK(file)
	return k, "the key file " + file, err
}

// initCA creates the CA, loads it (recording the intermediate) and records
// the creation.
func initCA(ctx context.Context, e *stateEnv, dir, rootKey string, alg pki.KeyAlgorithm, kek pki.KeyEncrypter, by principal.Principal) (*pki.InitResult, error) {
	res, err := pki.Init(pki.InitConfig{Dir: dir, RootKeyFile: rootKey, Algorithm: alg}, kek)
	if err != nil {
		return nil, err
	}
	if _, err := pki.Load(ctx, dir, pki.Config{}, pki.Deps{KEK: kek, Registry: pki.NewStoreRegistry(e.st), Events: e.bus, Log: e.log}); err != nil {
		return nil, fmt.Errorf("the CA was created in %s but could not be loaded: %v", dir, err)
	}
	fp := sha256.Sum256(res.Root.Raw)
	return res, e.emitAction(ctx, event.Event{Class: event.ClassPKI, Activity: "ca_init", Severity: event.SeverityMedium,
		Verdict: event.Info, Code: codes.CAInitialized, Actor: by, Resource: "ca:" + res.IntermediateKeyID,
		Attrs: map[string]any{"dir": dir, "root_sha256": hex.EncodeToString(fp[:]), "key_alg": string(alg),
			"root_key_file": res.RootKeyFile}})
}

var issueKinds = map[string]principal.Kind{"vehicle": principal.Vehicle, "client": principal.Client, "operator": principal.Operator}

func (a *app) pkiIssueCmd() *cobra.Command {
	var (
		f        = caStateFlags()
		op       operatorFlag
		out      string
		lifetime time.Duration
		keyAlg   string
		force    bool
		carrier  string
	)
	cmd := &cobra.Command{
		Use:   "issue vehicle|client|operator ID --out DIR",
		Short: "Issue a client certificate and its key",
		Long: `Issue a certificate for a vehicle, a TMS client or an operator, with a new
private key, and write to --out DIR:

  cert.pem  the certificate, then its intermediate (present both)
  key.pem   the private key (PKCS #8, mode 0600)
  ca.pem    the fleet root: what to trust for the gateway's certificate

Lifetimes default to the profile's: vehicle 24h, client 30 days, operator
12h. Issuing for a vehicle, a client or an operator the registry does not
know yet registers it: a client or an operator with no roles (set them with
'fifthwheel client roles set' / 'fifthwheel operator roles set'), a vehicle
or a client of --carrier if given (none otherwise: 'fifthwheel client add
--carrier' registers a client with its carrier first). Vehicles normally
enroll themselves with a join token ('fifthwheel pki join-token'); this is
for the rest.`,
		Example: `  fifthwheel pki issue vehicle truck-0042 --out ./truck-0042 --data ./fw-data
  fifthwheel pki issue client acme-tms --out ./acme --data ./fw-data
  fifthwheel pki issue operator alice --lifetime 8h --out ~/.fifthwheel --data ./fw-data`,
		Args: exactArgs(2, "a kind (vehicle, client or operator) and an ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, ok := issueKinds[args[0]]
			if !ok {
				return &usageError{err: fmt.Errorf("cannot issue for %q: the kinds are vehicle, client and operator", args[0]),
					hint: "gateway certificates are issued by 'fifthwheel serve' itself"}
			}
			subject, err := principal.New(kind, args[1])
			if err != nil {
				return &usageError{err: fmt.Errorf("ID %q: must be 1 to %d characters of [A-Za-z0-9._-], not starting with '.' or '-'", args[1], principal.MaxIDLen)}
			}
			if out == "" {
				return &usageError{err: errors.New("--out DIR is required: where to write cert.pem, key.pem and ca.pem"), hint: "see 'fifthwheel pki issue --help'"}
			}
			if carrier != "" {
				if kind == principal.Operator {
					return &usageError{err: errors.New("--carrier is for vehicles and clients: an operator acts on every carrier")}
				}
				if _, err := parseCarrier(carrier); err != nil {
					return err
				}
			}
			alg, err := parseKeyAlg(keyAlg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, ca, by, err := a.openCAAs(cmd, &f, &op)
			if err != nil {
				return err
			}
			defer e.close()
			if err := carrierAgrees(ctx, e, subject, carrier); err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(out, "key.pem")); err == nil && !force {
				return &usageError{err: fmt.Errorf("%s exists; refusing to replace a private key (pass --force, or another --out)", filepath.Join(out, "key.pem"))}
			}
			is, key, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: subject, Lifetime: lifetime, RequestedBy: by}, alg)
			if err != nil {
				return fmt.Errorf("refused: %v", pkiMessage(err))
			}
			if err := writeCredential(out, is, key, ca.Root(), force); err != nil {
				return fmt.Errorf("the certificate %s was issued but not written: %v", is.Record.Serial, err)
			}
			if err := ensureRegistered(ctx, e, subject, carrier, by); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "issued %s\n", subject)
			fmt.Fprintf(a.stdout, "  serial     %s\n", is.Record.Serial)
			fmt.Fprintf(a.stdout, "  not after  %s\n", is.Record.NotAfter.Format(time.RFC3339))
			fmt.Fprintf(a.stdout, "  files      %s (chain), %s (0600), %s (fleet root)\n",
				filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem"), filepath.Join(out, "ca.pem"))
			return nil
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&out, "out", "", "write cert.pem, key.pem and ca.pem to `DIR` (created 0700)")
	fs.DurationVar(&lifetime, "lifetime", 0, "certificate `LIFETIME` (default: the profile's)")
	fs.StringVar(&keyAlg, "key-alg", string(pki.ECDSAP256), "key `ALGORITHM`: ECDSA-P256 or Ed25519")
	fs.BoolVar(&force, "force", false, "replace an existing key.pem in --out")
	fs.StringVar(&carrier, "carrier", "", "register a new vehicle or client as one of `CARRIER`")
	return cmd
}

// carrierAgrees refuses --carrier for a vehicle or client registered as
// one of another carrier: issuing does not move a principal.
func carrierAgrees(ctx context.Context, e *stateEnv, p principal.Principal, carrier string) error {
	if carrier == "" {
		return nil
	}
	var have string
	switch p.Kind {
	case principal.Vehicle:
		v, err := e.st.GetVehicle(ctx, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		have = v.Carrier
	case principal.Client:
		c, err := e.st.GetClient(ctx, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		have = c.Carrier
	}
	if have != carrier {
		return fmt.Errorf("%s is registered as one of carrier %s, not %s; nothing issued", p, orDash(have), carrier)
	}
	return nil
}

// ensureRegistered adds a vehicle, TMS client or operator to its registry
// if absent: a client or an operator with no roles, a vehicle or a client
// of carrier ("": none). One already registered is left as it is.
func ensureRegistered(ctx context.Context, e *stateEnv, p principal.Principal, carrier string, by principal.Principal) error {
	now := time.Now().UTC()
	var err error
	var code string
	attrs := map[string]any{"via": "cli"}
	switch p.Kind {
	case principal.Vehicle:
		if _, err = e.st.GetVehicle(ctx, p.ID); err == nil {
			return nil
		}
		err, code = e.st.CreateVehicle(ctx, store.Vehicle{ID: p.ID, Status: store.VehicleActive, CreatedAt: now, Carrier: carrier}), codes.VehicleRegistered
		attrs["carrier"] = carrier
	case principal.Client:
		if _, err = e.st.GetClient(ctx, p.ID); err == nil {
			return nil
		}
		err, code = e.st.CreateClient(ctx, store.Client{ID: p.ID, Name: p.ID, Status: store.ClientActive, CreatedAt: now, Carrier: carrier}), codes.ClientRegistered
		attrs["carrier"], attrs["roles"] = carrier, []string{}
	case principal.Operator:
		if _, err = e.st.GetOperator(ctx, p.ID); err == nil {
			return nil
		}
		err, code = e.st.CreateOperator(ctx, store.Operator{ID: p.ID, Name: p.ID, Status: store.OperatorActive, CreatedAt: now}), codes.OperatorRegistered
		attrs["roles"] = []string{}
	default:
		return nil
	}
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("register %s: %v", p, err)
	}
	return e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "register", Verdict: event.Accept,
		Severity: event.SeverityInfo, Code: code, Actor: by, Resource: p.String(), Attrs: attrs})
}

// pkiMessage is the operator-facing text of a pki error: its code, detail
// and cause (the operator may see causes; clients never do).
func pkiMessage(err error) string { return err.Error() }

func (a *app) pkiJoinTokenCmd() *cobra.Command {
	var (
		f       = caStateFlags()
		op      operatorFlag
		ttl     time.Duration
		carrier string
	)
	cmd := &cobra.Command{
		Use:   "join-token vehicle ID --carrier C",
		Short: "Create a one-time enrollment token for a vehicle",
		Long: `Create a join token that lets vehicle ID enroll once: it sends the token with
a certificate request to POST /v1/pki/enroll on the vehicle listener and gets
its first certificate.

The token is printed once, alone on stdout; only its SHA-256 is stored. It
expires after --ttl (default 10m, at most 24h) and is consumed by its first
successful use.

The token names the vehicle's carrier, --carrier C: the enrollment registers
the vehicle as one of C. --carrier may be left out for a vehicle already
registered with a carrier (the token names that one); a carrier other than
the registered vehicle's is refused ('fifthwheel vehicle carrier set' moves
a vehicle).`,
		Example: `  TOKEN=$(fifthwheel pki join-token vehicle truck-0042 --carrier acme-freight --ttl 30m --data ./fw-data)`,
		Args:    exactArgs(2, "vehicle and an ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "vehicle" {
				return &usageError{err: fmt.Errorf("join tokens are for vehicles: 'fifthwheel pki join-token vehicle ID', got %q", args[0])}
			}
			if !principal.ValidID(args[1]) {
				return &usageError{err: fmt.Errorf("vehicle ID %q: must be 1 to %d characters of [A-Za-z0-9._-]", args[1], principal.MaxIDLen)}
			}
			if ttl <= 0 || ttl > pki.MaxJoinTokenTTL {
				return &usageError{err: fmt.Errorf("--ttl must be more than 0 and at most %v", pki.MaxJoinTokenTTL)}
			}
			if carrier != "" {
				if _, err := parseCarrier(carrier); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			e, ca, by, err := a.openCAAs(cmd, &f, &op)
			if err != nil {
				return err
			}
			defer e.close()
			v, err := e.st.GetVehicle(ctx, args[1])
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case v.Carrier != "" && carrier == "":
				carrier = v.Carrier
			case v.Carrier != "" && carrier != v.Carrier:
				return fmt.Errorf("vehicle %s is registered as one of carrier %s, not %s; nothing changed ('fifthwheel vehicle carrier set' moves it)", args[1], v.Carrier, carrier)
			}
			if carrier == "" {
				return &usageError{err: fmt.Errorf("--carrier C is required: the carrier vehicle %s belongs to", args[1])}
			}
			tok, err := ca.CreateCarrierJoinToken(ctx, args[1], carrier, ttl, by)
			if err != nil {
				return fmt.Errorf("refused: %v", pkiMessage(err))
			}
			fmt.Fprintln(a.stdout, tok.Secret)
			fmt.Fprintf(a.stderr, "fifthwheel: join token %s for %s of carrier %s, valid until %s; shown once, stored hashed\n",
				tok.ID, principal.Principal{Kind: principal.Vehicle, ID: args[1]}, carrier, tok.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	cmd.Flags().DurationVar(&ttl, "ttl", pki.DefaultJoinTokenTTL, "the token expires after `DURATION`")
	cmd.Flags().StringVar(&carrier, "carrier", "", "the `CARRIER` the vehicle belongs to (required unless the vehicle is registered with one)")
	return cmd
}

func (a *app) pkiRevokeCmd() *cobra.Command {
	var (
		f                          = caStateFlags()
		op                         operatorFlag
		serial, vehicle, client, o string
		reason                     string
	)
	cmd := &cobra.Command{
		Use:   "revoke (--serial S | --vehicle ID | --client ID | --operator ID) --reason R",
		Short: "Revoke certificates: one by serial, or a vehicle, client or operator as a whole",
		Long: `Revoke a certificate by serial, or a vehicle, TMS client or operator as a
whole: every certificate it was issued until now, in one transaction that
renewals are serialized with, so no certificate renewed from them before or
during the command survives it (on every gateway sharing the store). A
vehicle's unused join tokens are spent too. To bring the principal back,
issue it a new certificate ('fifthwheel pki issue') or a new join token.

Every gateway sharing the store refuses new handshakes with a revoked
certificate and closes its open connections within 1 s; the CRL and OCSP
answers change at once. Revocation is final (suspend a vehicle with
'fifthwheel vehicle suspend' to stop it reversibly).

Reasons: unspecified, key_compromise, ca_compromise, affiliation_changed,
superseded, cessation_of_operation, privilege_withdrawn.`,
		Example: `  fifthwheel pki revoke --vehicle truck-0042 --reason key_compromise --data ./fw-data
  fifthwheel pki revoke --serial 8f3c...e1 --reason superseded --data ./fw-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p principal.Principal
			n := 0
			for _, s := range []struct {
				v    string
				kind principal.Kind
			}{{serial, ""}, {vehicle, principal.Vehicle}, {client, principal.Client}, {o, principal.Operator}} {
				if s.v == "" {
					continue
				}
				n++
				if s.kind != "" {
					var err error
					if p, err = principal.New(s.kind, s.v); err != nil {
						return &usageError{err: fmt.Errorf("%s ID %q is not valid", s.kind, s.v)}
					}
				}
			}
			if n != 1 {
				return &usageError{err: errors.New("give exactly one of --serial, --vehicle, --client and --operator"), hint: "see 'fifthwheel pki revoke --help'"}
			}
			r, err := pki.ParseReason(reason)
			if err != nil {
				return &usageError{err: fmt.Errorf("--reason %q: want one of unspecified, key_compromise, ca_compromise, affiliation_changed, superseded, cessation_of_operation, privilege_withdrawn", reason)}
			}
			if serial != "" {
				if _, err := pki.ParseSerial(serial); err != nil {
					return &usageError{err: fmt.Errorf("--serial %q is not a certificate serial (hex)", serial)}
				}
			}
			ctx := cmd.Context()
			e, ca, by, err := a.openCAAs(cmd, &f, &op)
			if err != nil {
				return err
			}
			defer e.close()
			if serial == "" {
				return a.revokePrincipal(ctx, ca, p, r, by)
			}
			before, _ := e.st.GetIssued(ctx, mustSerial(serial))
			rec, err := ca.Revoke(ctx, serial, r, by)
			if err != nil {
				return fmt.Errorf("revoke %s: %v", serial, pkiMessage(err))
			}
			who := rec.Principal().String()
			if who == "" {
				who = "ca:" + rec.ID
			}
			if !before.RevokedAt.IsZero() {
				fmt.Fprintf(a.stdout, "already revoked %s %s (%s, %s)\n", rec.Serial, who, rec.Reason, rec.RevokedAt.Format(time.RFC3339))
				return nil
			}
			fmt.Fprintf(a.stdout, "revoked %s %s (%s)\n", rec.Serial, who, rec.Reason)
			return nil
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&serial, "serial", "", "revoke the certificate with `SERIAL` (hex, colons allowed)")
	fs.StringVar(&vehicle, "vehicle", "", "revoke every current certificate of vehicle `ID`")
	fs.StringVar(&client, "client", "", "revoke every current certificate of TMS client `ID`")
	fs.StringVar(&o, "operator", "", "revoke every current certificate of operator `ID`")
	fs.StringVar(&reason, "reason", "unspecified", "the revocation `REASON` (RFC 5280 name in snake_case)")
	return cmd
}

func mustSerial(s string) string {
	c, _ := pki.ParseSerial(s)
	return c
}

// revokePrincipal revokes p as a whole (pki.CA.RevokePrincipal) and prints
// each certificate it revoked. Revoking a principal with nothing left to
// revoke still records the revocation (no renewal of an older certificate
// can land after it) but exits 1, so a script learns it revoked nothing.
func (a *app) revokePrincipal(ctx context.Context, ca *pki.CA, p principal.Principal, r pki.RevocationReason, by principal.Principal) error {
	res, err := ca.RevokePrincipal(ctx, p, r, by)
	for _, rec := range res.Revoked {
		fmt.Fprintf(a.stdout, "revoked %s %s (%s)\n", rec.Serial, p, rec.Reason)
	}
	if res.TokensSpent > 0 {
		fmt.Fprintf(a.stdout, "spent %d unused join token(s) of %s\n", res.TokensSpent, p)
	}
	switch {
	case err != nil:
		return fmt.Errorf("revoke %s: %v", p, pkiMessage(err))
	case len(res.Revoked) == 0 && res.TokensSpent == 0:
		return fmt.Errorf("%s has no current certificate; nothing revoked", p)
	}
	return nil
}

func (a *app) pkiListCmd() *cobra.Command {
	var (
		f    = stateFlags{}
		kind string
		id   string
		o    outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued certificates and their status",
		Long: `List every certificate the fleet CA issued (intermediates and OCSP responder
certificates included), oldest first, with its status: valid, expired or
revoked (with the reason).`,
		Example: `  fifthwheel pki list --data ./fw-data
  fifthwheel pki list --kind vehicle --id truck-0042 --data ./fw-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if kind != "" {
				if _, ok := pki.ProfileFor(principal.Kind(kind)); !ok {
					return &usageError{err: fmt.Errorf("--kind %q: want vehicle, client, operator or gateway", kind)}
				}
			}
			ctx := cmd.Context()
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			defer e.close()
			rows, err := e.st.ListIssued(ctx, kind, id, 0)
			if err != nil {
				return err
			}
			now := time.Now()
			out := make([]certRow, 0, len(rows))
			for _, r := range rows {
				c := certRow{Serial: r.Serial, Profile: r.Profile, NotAfter: r.NotAfter.UTC(), Status: "valid"}
				if r.Kind != "" {
					c.Subject = principal.Principal{Kind: principal.Kind(r.Kind), ID: r.ID}.String()
				} else {
					c.Subject = "ca:" + r.ID
				}
				switch {
				case !r.RevokedAt.IsZero():
					at := r.RevokedAt.UTC()
					c.Status, c.RevokedAt, c.RevocationReason = "revoked", &at, pki.RevocationReason(r.Reason).String()
				case !now.Before(r.NotAfter):
					c.Status = "expired"
				}
				out = append(out, c)
			}
			return printList(a.stdout, o, out, []string{"SERIAL", "SUBJECT", "PROFILE", "NOT AFTER", "STATUS"}, func(c certRow) []string {
				status := c.Status
				if c.RevokedAt != nil {
					status = "revoked (" + c.RevocationReason + ", " + c.RevokedAt.Format(time.RFC3339) + ")"
				}
				return []string{c.Serial, c.Subject, c.Profile, c.NotAfter.Format(time.RFC3339), status}
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&kind, "kind", "", "only certificates of principal `KIND` (vehicle, client, operator, gateway)")
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&id, "id", "", "only certificates of principal `ID`")
	return cmd
}

func (a *app) pkiIntermediateCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "intermediate",
		Short: "Rotate the online intermediate CA",
		Long: `Rotate the online intermediate, with no moment when a valid certificate is
refused:

  1. add --root-key FILE   a new intermediate, trusted but not issuing yet
                           (needs the offline root key, once)
  2. copy the CA directory to every replica (each reloads it within 5 s)
  3. promote KID           the new intermediate issues; the old one stays trusted
  4. retire OLD_KID        once the old one's certificates are renewed or expired`,
	})
	var f = caStateFlags()
	var op operatorFlag
	var o outputFlag
	list := &cobra.Command{
		Use:   "list",
		Short: "List the intermediates and their state",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			defer e.close()
			ca, err := a.openCA(ctx, e)
			if err != nil {
				return err
			}
			var rows []intermediateRow
			for _, it := range ca.Intermediates() {
				key := "online"
				if !it.HasKey {
					key = "absent"
				}
				rows = append(rows, intermediateRow{KeyID: it.KeyID, State: string(it.State), NotAfter: it.Certificate.NotAfter.UTC(), Key: key})
			}
			return printList(a.stdout, o, rows, []string{"KEY ID", "STATE", "NOT AFTER", "KEY"}, func(r intermediateRow) []string {
				return []string{r.KeyID, r.State, r.NotAfter.Format(time.RFC3339), r.Key}
			})
		},
	}
	var rootKey, keyAlg string
	add := &cobra.Command{
		Use:   "add --root-key FILE",
		Short: "Add a new intermediate, trusted but not yet issuing",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rootKey == "" {
				return &usageError{err: errors.New("--root-key FILE is required: the offline root key signs the new intermediate")}
			}
			alg, err := parseKeyAlg(keyAlg)
			if err != nil {
				return err
			}
			return a.withCA(cmd, &f, &op, func(ctx context.Context, ca *pki.CA, by principal.Principal) error {
				kid, err := ca.AddIntermediate(ctx, rootKey, pki.IntermediateOptions{Algorithm: alg}, by)
				if err != nil {
					return fmt.Errorf("add intermediate: %v", pkiMessage(err))
				}
				fmt.Fprintf(a.stdout, "added intermediate %s (trusted, not issuing); copy the CA directory to every replica, then 'fifthwheel pki intermediate promote %s'\n", kid, kid)
				return nil
			})
		},
	}
	add.Flags().StringVar(&rootKey, "root-key", "", "the encrypted root key `FILE` (brought back from offline storage)")
	add.Flags().StringVar(&keyAlg, "key-alg", string(pki.ECDSAP256), "key `ALGORITHM`: ECDSA-P256 or Ed25519")
	promote := &cobra.Command{
		Use:   "promote KID",
		Short: "Make a trusted intermediate the issuing one",
		Args:  exactArgs(1, "a key id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withCA(cmd, &f, &op, func(ctx context.Context, ca *pki.CA, by principal.Principal) error {
				if err := ca.SetIssuing(ctx, args[0], by); err != nil {
					return fmt.Errorf("promote %s: %v", args[0], pkiMessage(err))
				}
				fmt.Fprintf(a.stdout, "intermediate %s now issues; the previous one stays trusted until retired\n", args[0])
				return nil
			})
		},
	}
	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Stop trusting an intermediate",
		Args:  exactArgs(1, "a key id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withCA(cmd, &f, &op, func(ctx context.Context, ca *pki.CA, by principal.Principal) error {
				if err := ca.RetireIntermediate(ctx, args[0], by); err != nil {
					return fmt.Errorf("retire %s: %v", args[0], pkiMessage(err))
				}
				fmt.Fprintf(a.stdout, "intermediate %s retired: certificates it issued are refused from the next handshake\n", args[0])
				return nil
			})
		},
	}
	o.register(list.Flags())
	addCACommands(cmd, &f, &op, list, add, promote, retire)
	return cmd
}

// withCA opens the state and the CA, resolves the actor and runs fn.
func (a *app) withCA(cmd *cobra.Command, f *stateFlags, op *operatorFlag, fn func(context.Context, *pki.CA, principal.Principal) error) error {
	e, ca, by, err := a.openCAAs(cmd, f, op)
	if err != nil {
		return err
	}
	defer e.close()
	return fn(cmd.Context(), ca, by)
}

// openCAAs opens the state and the fleet CA and resolves the operator
// acting (--as) on them: what every command that changes the CA starts
// with. The caller closes e; on an error nothing is left open.
func (a *app) openCAAs(cmd *cobra.Command, f *stateFlags, op *operatorFlag) (*stateEnv, *pki.CA, principal.Principal, error) {
	ctx := cmd.Context()
	e, err := a.openState(cmd, f, false)
	if err != nil {
		return nil, nil, principal.Principal{}, err
	}
	ca, err := a.openCA(ctx, e)
	if err == nil {
		var by principal.Principal
		if by, err = op.actor(ctx, e); err == nil {
			return e, ca, by, nil
		}
	}
	e.close()
	return nil, nil, principal.Principal{}, err
}

// certRow is one line of 'pki list' (its -o json object).
type certRow struct {
	Serial           string     `json:"serial"`
	Subject          string     `json:"subject"`
	Profile          string     `json:"profile"`
	NotAfter         time.Time  `json:"not_after"`
	Status           string     `json:"status"` // valid, expired or revoked
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason string     `json:"revocation_reason,omitempty"`
}

// intermediateRow is one line of 'pki intermediate list' (its -o json object).
type intermediateRow struct {
	KeyID    string    `json:"key_id"`
	State    string    `json:"state"`
	NotAfter time.Time `json:"not_after"`
	Key      string    `json:"key"` // online or absent
}

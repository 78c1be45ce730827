package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Files in the data directory that the PKI commands and serve share.
const (
	// devKEKFile is the random key-encryption key `--dev` creates (0600):
	// development only; production uses a passphrase or a KEK file kept
	// apart from the CA directory.
	devKEKFile = "pki.kek"
	// operatorDir holds the local CLI's operator credential
	// (cert.pem, key.pem, ca.pem), written by `serve --dev`.
	operatorDir = "operator"
	// gatewayDir holds the gateway's own server credential.
	gatewayDir = "gateway"
	// caStateFile marks a CA directory (pki's ca.json).
	caStateFile = "ca.json"
)

// cliActor is the actor of CLI actions taken without an operator credential.
var cliActor = principal.Principal{Kind: principal.System, ID: "cli"}

// stateEnv is what a command that reads or changes gateway state works
// with: the configuration, the store and the store-backed event bus.
type stateEnv struct {
	cfg config.Config
	st  store.Store
	bus *event.Bus
	// events, when set, is what the CA and the other event sources record
	// through instead of bus: in serve, the aggregator in front of it.
	events event.Emitter
	log    *slog.Logger
	close  func()
}

// emitter is what the CA and other event sources record through.
func (e *stateEnv) emitter() event.Emitter {
	if e.events != nil {
		return e.events
	}
	return e.bus
}

// openState loads the configuration, opens the store (creating a SQLite
// data directory if create) and the event bus. what names the command for
// the error when no store is given.
func (a *app) openState(cmd *cobra.Command, f *stateFlags, create bool) (*stateEnv, error) {
	cfg, src, err := a.loadConfig(cmd, f)
	if err != nil {
		return nil, err
	}
	if f.config == "" && cfg.DataDir == "" && cfg.StoreURL == "" {
		return nil, &usageError{
			err:  fmt.Errorf("%s needs the gateway's state: pass --data DIR (embedded SQLite) or --store URL (PostgreSQL)", cmd.CommandPath()),
			hint: "see '" + cmd.CommandPath() + " --help'",
		}
	}
	if err := validate(cfg, src, false, "configuration"); err != nil {
		return nil, err
	}
	log := newLogger(a.stderr, cfg.Log)
	st, err := openStore(cmd.Context(), cfg, create)
	if err != nil {
		return nil, err
	}
	bus, closeEvents, err := eventBus(cfg, st, nil, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &stateEnv{cfg: cfg, st: st, bus: bus, log: log, close: func() {
		if err := closeEvents(); err != nil {
			log.Error("closing the events file failed", slog.Any("err", err))
		}
		if err := st.Close(); err != nil {
			log.Error("closing the store failed", slog.Any("err", err))
		}
	}}, nil
}

// emitAction records one operator action; a command whose action cannot be
// recorded fails (the change is made, so the message says so).
func (e *stateEnv) emitAction(ctx context.Context, ev event.Event) error {
	ctx, cancel := context.WithTimeout(ctx, eventEmitTimeout)
	defer cancel()
	if err := e.bus.Emit(ctx, ev); err != nil {
		return fmt.Errorf("the change was made but its security event was not recorded: %v", err)
	}
	return nil
}

// pkiDir returns the CA directory or an error saying how to set it.
func pkiDir(cfg config.Config) (string, error) {
	dir := cfg.PKIDir()
	if dir == "" {
		return "", &usageError{err: errors.New("pki.dir is a relative path and there is no data directory: pass --data DIR or set pki.dir to an absolute path")}
	}
	return dir, nil
}

func caExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, caStateFile))
	return err == nil
}

// kek returns the key-encryption key of the CA keys, in this order: the
// file pki.kek_file (--kek-file) names; the passphrase in
// FIFTHWHEEL_CA_PASSPHRASE; the development key file in the data directory.
func (a *app) kek(cfg config.Config) (pki.KeyEncrypter, error) {
	if p := cfg.KEKPath(); p != "" {
		k, err := pki.LoadKeyFileKEK(p)
		if err != nil {
			return nil, fmt.Errorf("the KEK file (pki.kek_file): %v", err)
		}
		return k, nil
	}
	if pass := a.getenv(config.PassphraseEnv); pass != "" {
		return pki.NewPassphraseKEK([]byte(pass))
	}
	if cfg.DataDir != "" {
		p := filepath.Join(cfg.DataDir, devKEKFile)
		if _, err := os.Stat(p); err == nil {
			k, err := pki.LoadKeyFileKEK(p)
			if err != nil {
				return nil, fmt.Errorf("the development KEK file: %v", err)
			}
			return k, nil
		}
	}
	return nil, &usageError{
		err:  fmt.Errorf("the CA keys are encrypted: set %s to the CA passphrase or pass --kek-file FILE", config.PassphraseEnv),
		hint: "a development CA made by 'serve --dev' keeps its key file in the data directory; pass --data DIR",
	}
}

// openSecretsKey opens (or creates) the secrets key of the CA directory
// dir with kek: what seals and opens HS256 frame secrets in the store.
func openSecretsKey(dir string, kek pki.KeyEncrypter, log *slog.Logger) (pki.KeyEncrypter, error) {
	k, created, err := pki.OpenSecretsKey(dir, kek)
	if errors.Is(err, pki.ErrKeyDecrypt) {
		return nil, fmt.Errorf("cannot decrypt the secrets key %s: wrong passphrase or KEK file",
			filepath.Join(dir, pki.SecretsKeyFile))
	}
	if err != nil {
		return nil, fmt.Errorf("the secrets key: %v", err)
	}
	if created {
		log.Info("secrets key created: it seals HS256 frame secrets in the store; back it up with the CA directory",
			slog.String("file", filepath.Join(dir, pki.SecretsKeyFile)))
	}
	return k, nil
}

// getenv reads a variable from the command's environment (never os.Getenv:
// tests run commands in-process).
func (a *app) getenv(name string) string {
	for i := len(a.environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(a.environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// openCA loads the fleet CA of cfg with the store as its registry.
func (a *app) openCA(ctx context.Context, e *stateEnv) (*pki.CA, error) {
	dir, err := pkiDir(e.cfg)
	if err != nil {
		return nil, err
	}
	if !caExists(dir) {
		return nil, fmt.Errorf("no fleet CA in %s: create one with 'fifthwheel pki init' (or 'fifthwheel serve --dev')", dir)
	}
	kek, err := a.kek(e.cfg)
	if err != nil {
		return nil, err
	}
	ca, err := pki.Load(ctx, dir, pki.Config{CRLURL: e.cfg.PKI.CRLURL, OCSPURL: e.cfg.PKI.OCSPURL},
		pki.Deps{KEK: kek, Registry: pki.NewStoreRegistry(e.st), Events: e.emitter(), Log: e.log})
	if errors.Is(err, pki.ErrKeyDecrypt) {
		return nil, fmt.Errorf("cannot decrypt the CA keys in %s: wrong passphrase or KEK file", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load the fleet CA in %s: %v", dir, err)
	}
	return ca, nil
}

// operatorFlag is the --as flag of commands that record who acted.
type operatorFlag struct{ dir string }

func (o *operatorFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dir, "as", "", "act as the operator whose credential (cert.pem, key.pem) is in `DIR` (default: DATA/operator, written by 'serve --dev')")
}

// actor returns who is acting: the operator of the credential in --as DIR
// (default DATA/operator) once it passes the listeners' policy
// (pki.VerifyCredential: chained to a trusted intermediate for client
// authentication, current, of the operator profile, leaf and intermediate
// not revoked) and matches its key; or, without a credential, the CLI
// itself. A credential that is present but unusable is an error, never
// silently ignored.
func (o *operatorFlag) actor(ctx context.Context, e *stateEnv) (principal.Principal, error) {
	dir, explicit := o.dir, o.dir != ""
	if dir == "" {
		if e.cfg.DataDir == "" {
			return cliActor, nil
		}
		dir = filepath.Join(e.cfg.DataDir, operatorDir)
	}
	if _, err := os.Stat(filepath.Join(dir, pki.CredentialCertFile)); errors.Is(err, fs.ErrNotExist) && !explicit {
		return cliActor, nil
	}
	pair, err := pki.LoadCredential(dir)
	if err != nil {
		return principal.Principal{}, fmt.Errorf("operator credential in %s: %v", dir, err)
	}
	pkiD, err := pkiDir(e.cfg)
	if err != nil {
		return principal.Principal{}, err
	}
	trust, err := pki.LoadTrust(pkiD)
	if err != nil {
		return principal.Principal{}, fmt.Errorf("operator credential: the fleet CA in %s: %v", pkiD, err)
	}
	rs, err := pki.NewRevocationSet(pki.NewStoreRegistry(e.st), pki.RevocationConfig{}, nil, e.log)
	if err != nil {
		return principal.Principal{}, err
	}
	if err := rs.Refresh(ctx); err != nil {
		return principal.Principal{}, fmt.Errorf("operator credential: cannot load the revocation list: %v", err)
	}
	p, _, err := pki.VerifyCredential(pair, pki.CredentialPolicy{Trust: trust, Revocations: rs,
		Allowed: []principal.Kind{principal.Operator}})
	switch code := pki.CodeOf(err); code {
	case "":
		// A suspended operator cannot act; one the registry does not hold
		// (issued before operators were registered) acts as before.
		o, err := e.st.GetOperator(ctx, p.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return principal.Principal{}, fmt.Errorf("operator credential: cannot read the operator registry: %v", err)
		case o.Status != store.OperatorActive:
			return principal.Principal{}, fmt.Errorf("operator %s is %s: it cannot act until resumed", p.ID, o.Status)
		}
		return p, nil
	case codes.TLSCertRevoked:
		return principal.Principal{}, fmt.Errorf("operator credential in %s is revoked", dir)
	default:
		return principal.Principal{}, fmt.Errorf("operator credential in %s refused (%s): %s", dir, code, problem.From(err).Detail)
	}
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writeCredential writes a certificate, its key and the fleet root into
// the credential directory dir (pki.WriteCredential). An existing key.pem is
// replaced only with force.
func writeCredential(dir string, is *pki.Issued, key crypto.Signer, root *x509.Certificate, force bool) error {
	keyPath := filepath.Join(dir, pki.CredentialKeyFile)
	if _, err := os.Stat(keyPath); err == nil && !force {
		return &usageError{err: fmt.Errorf("%s exists; refusing to replace a private key (pass --force, or another --out)", keyPath)}
	}
	return pki.WriteCredential(dir, is, key, root)
}

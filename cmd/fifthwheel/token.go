package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Manage the keys that sign TMS access tokens",
	})
	cmd.AddCommand(a.tokenKeysCmd())
	return cmd
}

func (a *app) tokenKeysCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "keys",
		Short: "List or rotate the access-token signing keys",
		Long: `The gateway signs the TMS access tokens (RFC 9068 JWTs bound to the
client's certificate, RFC 8705) with a key kept in the store, shared by every
replica; its private half is sealed under the secrets key (itself under the
CA's key-encryption key). The first gateway to start creates it. Verifiers
fetch the public keys at /.well-known/jwks.json on the TMS listener.

  list     the keys, which one signs, and until when a retired key stays published
  rotate   a new key signs at once (every replica within 5 s); the old keys stay
           published until their last token has expired (15 min + margins)

Every rotation is recorded as a security event; the actor is the operator
whose credential is in --as DIR (default DATA/operator).`,
	})
	var (
		f   = caStateFlags()
		op  operatorFlag
		alg string
	)
	var o outputFlag
	list := &cobra.Command{
		Use:   "list",
		Short: "List the access-token signing keys",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			defer e.close()
			keys, err := e.st.ListTokenKeys(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]tokenKeyRow, 0, len(keys))
			for _, k := range keys {
				r := tokenKeyRow{KID: k.KID, Alg: k.Alg, State: "active", Created: k.CreatedAt.UTC()}
				if !k.RetiredAt.IsZero() {
					until := k.PublishUntil.UTC()
					r.State, r.PublishedUntil = "retired", &until
				}
				rows = append(rows, r)
			}
			return printList(a.stdout, o, rows, []string{"KID", "ALG", "STATE", "CREATED", "PUBLISHED UNTIL"}, func(r tokenKeyRow) []string {
				return []string{r.KID, r.Alg, r.State, r.Created.Format(time.RFC3339), timeOrDash(r.PublishedUntil)}
			})
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key sign access tokens; the old ones stay published until their tokens expire",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			e, dir, err := a.openKeyDir(cmd, &f)
			if err != nil {
				return err
			}
			defer e.close()
			by, err := op.actor(ctx, e)
			if err != nil {
				return err
			}
			kek, err := a.kek(e.cfg)
			if err != nil {
				return err
			}
			sealer, err := openSecretsKey(dir, kek, e.log)
			if err != nil {
				return err
			}
			if alg == "" {
				alg = e.cfg.Access.TokenAlg
			}
			keys, err := authz.NewKeySet(authz.KeySetDeps{Store: tokenKeyStore{e.st}, Sealer: sealer,
				Events: actedBy{by: by, next: e.bus}, Log: e.log}, authz.KeySetConfig{Alg: alg})
			if err != nil {
				return err
			}
			kid, err := keys.Rotate(ctx, alg)
			if err != nil {
				return fmt.Errorf("%v; nothing changed unless 'fifthwheel token keys list' shows the new key", err)
			}
			fmt.Fprintf(a.stdout, "key %s (%s) now signs access tokens; running gateways take it within %v\n",
				kid, alg, authz.DefaultKeyRefreshInterval)
			fmt.Fprintf(a.stdout, "the previous keys stay published in the JWKS for %v, until their last token expires\n",
				authz.KeyPublishMargin)
			return nil
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "", "algorithm of the new key: EdDSA or ES256 (default: access.token_alg)")
	o.register(list.Flags())
	addCACommands(cmd, &f, &op, list, rotate)
	return cmd
}

// actedBy records events as the acting operator's.
type actedBy struct {
	by   principal.Principal
	next event.Emitter
}

func (a actedBy) Emit(ctx context.Context, evs ...event.Event) error {
	for i := range evs {
		evs[i].Actor = a.by
	}
	return a.next.Emit(ctx, evs...)
}

// tokenKeyRow is one line of 'token keys list' (its -o json object).
type tokenKeyRow struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	State          string     `json:"state"` // active or retired
	Created        time.Time  `json:"created"`
	PublishedUntil *time.Time `json:"published_until,omitempty"` // a retired key's
}

package main

import (
	"context"
	"fmt"
	"text/tabwriter"
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
	list := &cobra.Command{
		Use:   "list",
		Short: "List the access-token signing keys",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			defer e.close()
			keys, err := e.st.ListTokenKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISHED UNTIL")
			for _, k := range keys {
				state, until := "active", "-"
				if !k.RetiredAt.IsZero() {
					state, until = "retired", k.PublishUntil.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, state, k.CreatedAt.UTC().Format(time.RFC3339), until)
			}
			return tw.Flush()
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

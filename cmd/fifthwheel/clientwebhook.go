package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

// `client webhook set|clear`: a TMS client's webhook (issue 20, "Push";
// package webhook). The secret is stored sealed under the CA directory's
// secrets key, like HS256 frame secrets; each change is one event naming
// the acting operator, never carrying the secret.

func (a *app) clientWebhookCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "webhook",
		Short: "Set or clear a TMS client's webhook (signed push of command transitions and vehicle states)",
	})
	cmd.AddCommand(a.clientWebhookSetCmd(), a.clientWebhookClearCmd())
	return cmd
}

func (a *app) clientWebhookSetCmd() *cobra.Command {
	var (
		f                 = caStateFlags() // --kek-file: the secret is sealed
		op                operatorFlag
		rawURL, secretArg string
	)
	cmd := &cobra.Command{
		Use:   "set ID --url URL --secret-file FILE",
		Short: "Set (or replace) a TMS client's webhook",
		Long: `Set TMS client ID's webhook: the gateway POSTs the client's command
transitions and its carrier's vehicle states (comm_lost, safe_state, resumed)
to URL, signed with HMAC-SHA256 under the secret in FILE (32 to 64 raw random
bytes, shared with the receiver; e.g. 'head -c 32 /dev/urandom > FILE').
docs/OPERATIONS.md "Webhooks" gives the headers and the receiver's checks.

The URL must be https. The secret is stored sealed under the CA directory's
secrets key: this needs the KEK (FIFTHWHEEL_CA_PASSPHRASE or --kek-file; a
'serve --dev' data directory has its own).`,
		Example: `  head -c 32 /dev/urandom > acme.webhook.secret
  fifthwheel client webhook set acme-tms --url https://tms.acme.example/fifthwheel \
      --secret-file acme.webhook.secret --data ./fw-data`,
		Args: exactArgs(1, "a client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			if err := webhook.ValidateURL(rawURL); err != nil {
				return &usageError{err: fmt.Errorf("--url %q: must be an https URL with a host, without user information or fragment, at most %d bytes", rawURL, webhook.MaxURL)}
			}
			if secretArg == "" {
				return &usageError{err: errors.New("--secret-file FILE is required (32 to 64 raw random bytes)")}
			}
			secret, err := readBounded(secretArg, webhook.MaxSecret)
			if err != nil {
				return fmt.Errorf("--secret-file: %v (a webhook secret is 32 to 64 raw bytes)", err)
			}
			defer clear(secret)
			if len(secret) < webhook.MinSecret {
				return fmt.Errorf("refused: a webhook secret must be %d to %d raw bytes, %s has %d", webhook.MinSecret, webhook.MaxSecret, secretArg, len(secret))
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				if _, err := getClient(ctx, e, p.ID); err != nil {
					return err
				}
				dir, err := pkiDir(e.cfg)
				if err != nil {
					return err
				}
				kek, err := a.kek(e.cfg)
				if err != nil {
					return err
				}
				secrets, err := openSecretsKey(dir, kek, e.log)
				if err != nil {
					return err
				}
				sealed, err := webhook.SealSecret(secrets, p.ID, secret)
				if err != nil {
					return err
				}
				_, getErr := e.st.GetClientWebhook(ctx, p.ID)
				replaced := getErr == nil
				if err := e.st.SetClientWebhook(ctx, store.ClientWebhook{Client: p.ID, URL: rawURL, Sealed: sealed,
					UpdatedAt: time.Now().UTC(), UpdatedBy: by.String()}); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassCommand, Activity: "client_webhook_set", Verdict: event.Info,
					Severity: event.SeverityMedium, Code: codes.WebhookSet, Actor: by, Resource: p.String(),
					Attrs: map[string]any{"url": rawURL, "replaced": replaced}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: webhook %s\n", p, rawURL)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&rawURL, "url", "", "the webhook's https `URL`")
	fs.StringVar(&secretArg, "secret-file", "", "the HMAC secret `FILE` (32 to 64 raw random bytes)")
	return cmd
}

func (a *app) clientWebhookClearCmd() *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	cmd := &cobra.Command{
		Use:   "clear ID",
		Short: "Remove a TMS client's webhook",
		Long: `Remove TMS client ID's webhook: nothing more is enqueued for it, and its
messages still in the outbox become dead letters.`,
		Example: `  fifthwheel client webhook clear acme-tms --data ./fw-data`,
		Args:    exactArgs(1, "a client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				err := e.st.ClearClientWebhook(ctx, p.ID)
				if errors.Is(err, store.ErrNotFound) {
					fmt.Fprintf(a.stdout, "%s has no webhook\n", p)
					return nil
				}
				if err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassCommand, Activity: "client_webhook_clear", Verdict: event.Info,
					Severity: event.SeverityMedium, Code: codes.WebhookCleared, Actor: by, Resource: p.String()}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: webhook cleared\n", p)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	return cmd
}

// webhookShow is the webhook line of `client show`.
func webhookShow(ctx context.Context, e *stateEnv, client string) (string, error) {
	w, err := e.st.GetClientWebhook(ctx, client)
	if errors.Is(err, store.ErrNotFound) {
		return "-", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (set %s by %s)", w.URL, w.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"), w.UpdatedBy), nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

func (a *app) gatewayCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "gateway",
		Short: "Manage the gateway's own keys",
	})
	cmd.AddCommand(a.gatewayKeyCmd())
	return cmd
}

func (a *app) gatewayKeyCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "key",
		Short: "Rotate the keys the gateway signs vehicle frames and commands with",
		Long: `The gateway signs every frame it sends a vehicle (challenge, ready, ack,
nack, resume) with its frame key; vehicles pin the public keys it publishes
in the CA directory (pki.dir, default DATA/pki):

  gateway-frame-keys.json  the key set: private keys encrypted under the KEK (0600)
  gateway-frame-keys.pem   the public keys to pin on every vehicle

serve creates the set with one key at its first start. Rotate it with no
moment when a vehicle refuses the gateway:

  1. rotate        add a next key and publish it; the current key still signs
  2. give every vehicle the published keys (agent GatewayFrameKeys: all of them)
  3. promote       the next key signs; every gateway sharing the CA directory
                   takes it within 5 s; the old key stays published as previous
  4. drop OLD_KID  once every replica signs with the new key (at once if the
                   old key leaked); then give the vehicles the published keys again

--purpose command manages, the same way, the command keys, a set of their
own: they sign the commands the gateway sends vehicles (kids gc-...), and
vehicles pin them apart (agent GatewayCommandKeys):

  gateway-command-keys.json, gateway-command-keys.pem

Every change is recorded as a security event; the actor is the operator
whose credential is in --as DIR (default DATA/operator), or the CLI itself.`,
	})
	var (
		f       = caStateFlags()
		op      operatorFlag
		purpose string
	)
	cmd.PersistentFlags().StringVar(&purpose, "purpose", "frame", "the key set: frame (session frames) or command (commands)")
	which := func() (gwkey.Purpose, error) {
		switch purpose {
		case "frame":
			return gwkey.Frame, nil
		case "command":
			return gwkey.Command, nil
		}
		return gwkey.Purpose{}, &usageError{err: fmt.Errorf("--purpose %q: want frame or command", purpose)}
	}
	var o outputFlag
	list := &cobra.Command{
		Use:   "list",
		Short: "List the gateway keys of a purpose and their state",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			p, err := which()
			if err != nil {
				return err
			}
			e, dir, err := a.openKeyDir(cmd, &f)
			if err != nil {
				return err
			}
			defer e.close()
			keys, err := p.List(dir)
			if err != nil {
				return keySetError(p, dir, err)
			}
			rows := make([]gatewayKeyRow, 0, len(keys))
			for _, k := range keys {
				r := gatewayKeyRow{KID: k.KID, State: string(k.State), Created: k.Created.UTC()}
				if !k.Retired.IsZero() {
					t := k.Retired.UTC()
					r.Retired = &t
				}
				rows = append(rows, r)
			}
			if err := printList(a.stdout, o, rows, []string{"KID", "STATE", "CREATED", "RETIRED"}, func(r gatewayKeyRow) []string {
				return []string{r.KID, r.State, r.Created.Format(time.RFC3339), timeOrDash(r.Retired)}
			}); err != nil || o.format == "json" {
				return err
			}
			fmt.Fprintf(a.stdout, "vehicles pin: %s\n", filepath.Join(dir, p.PublicFile))
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add and publish a next key; the current key still signs",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.changeGatewayKeys(cmd, &f, &op, which, true, func(p gwkey.Purpose, dir string, kek pki.KeyEncrypter) (keyChange, error) {
				k, err := p.Rotate(dir, kek)
				return keyChange{activity: "gateway_key_rotate", code: codes.GatewayKeyAdded, kid: k.KID,
					report: fmt.Sprintf("published next key %s in %s\n", k.KID, filepath.Join(dir, p.PublicFile)) +
						"give every vehicle the published keys, then 'fifthwheel gateway key promote --purpose " + p.String() + "'\n"}, err
			})
		},
	}
	promote := &cobra.Command{
		Use:   "promote",
		Short: "Make the next key the one that signs",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.changeGatewayKeys(cmd, &f, &op, which, true, func(pp gwkey.Purpose, dir string, kek pki.KeyEncrypter) (keyChange, error) {
				p, err := pp.Promote(dir, kek)
				if err != nil {
					return keyChange{}, err
				}
				c := keyChange{activity: "gateway_key_promote", code: codes.GatewayKeyPromoted, kid: p.Current.KID,
					attrs: map[string]any{"previous": p.Previous.KID},
					report: fmt.Sprintf("key %s now signs (running gateways take it within %v); %s stays published as previous\n",
						p.Current.KID, gwkey.ReloadInterval, p.Previous.KID)}
				if p.Dropped != "" {
					c.attrs["dropped"] = p.Dropped
					c.report += fmt.Sprintf("key %s is no longer published\n", p.Dropped)
				}
				return c, nil
			})
		},
	}
	drop := &cobra.Command{
		Use:   "drop KID",
		Short: "Remove the next or previous key from the set and the published keys",
		Args:  exactArgs(1, "a key id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changeGatewayKeys(cmd, &f, &op, which, false, func(p gwkey.Purpose, dir string, _ pki.KeyEncrypter) (keyChange, error) {
				k, err := p.Drop(dir, args[0])
				return keyChange{activity: "gateway_key_drop", code: codes.GatewayKeyDropped, kid: k.KID,
					attrs:  map[string]any{"state": string(k.State)},
					report: fmt.Sprintf("dropped %s key %s; give every vehicle the published keys again\n", k.State, k.KID)}, err
			})
		},
	}
	o.register(list.Flags())
	addCACommands(cmd, &f, &op, list, rotate, promote, drop)
	return cmd
}

// openKeyDir opens the state and finds the CA directory, where the key set
// lives. The caller closes e; on an error nothing is left open.
func (a *app) openKeyDir(cmd *cobra.Command, f *stateFlags) (*stateEnv, string, error) {
	e, err := a.openState(cmd, f, false)
	if err != nil {
		return nil, "", err
	}
	dir, err := pkiDir(e.cfg)
	if err != nil {
		e.close()
		return nil, "", err
	}
	return e, dir, nil
}

// keyChange is one change made to the gateway key set: the security event
// that records it (gatewayKeyEvent) and what the operator is told once the
// event is recorded.
type keyChange struct {
	activity, code, kid string
	attrs               map[string]any
	report              string
}

// changeGatewayKeys opens the state, finds the CA directory, resolves the
// operator acting (--as) and, with the KEK when withKEK, makes the change;
// then it records the change's event and prints its report.
func (a *app) changeGatewayKeys(cmd *cobra.Command, f *stateFlags, op *operatorFlag, which func() (gwkey.Purpose, error), withKEK bool,
	change func(p gwkey.Purpose, dir string, kek pki.KeyEncrypter) (keyChange, error)) error {
	ctx := cmd.Context()
	p, err := which()
	if err != nil {
		return err
	}
	e, dir, err := a.openKeyDir(cmd, f)
	if err != nil {
		return err
	}
	defer e.close()
	by, err := op.actor(ctx, e)
	if err != nil {
		return err
	}
	var kek pki.KeyEncrypter
	if withKEK {
		if kek, err = a.kek(e.cfg); err != nil {
			return err
		}
	}
	c, err := change(p, dir, kek)
	if err != nil {
		return keySetError(p, dir, err)
	}
	if err := e.emitAction(ctx, gatewayKeyEvent(p, by, c.activity, c.code, c.kid, c.attrs)); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, c.report)
	return nil
}

// gatewayKeyEvent is the security event of a change to the key set.
func gatewayKeyEvent(p gwkey.Purpose, by principal.Principal, activity, code, kid string, attrs map[string]any) event.Event {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["kid"] = kid
	return event.Event{Class: event.ClassPKI, Activity: activity, Severity: event.SeverityMedium, Actor: by,
		Resource: "gateway-" + p.String() + "-key:" + kid, Verdict: event.Info, Code: code, Attrs: attrs}
}

// keySetError says what went wrong with the key set in dir, and what to do.
func keySetError(p gwkey.Purpose, dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no gateway %s keys in %s: 'fifthwheel serve' creates them at its first start", p, dir)
	case errors.Is(err, pki.ErrKeyDecrypt):
		return fmt.Errorf("cannot decrypt the gateway %s keys in %s: wrong passphrase or KEK file; nothing changed", p, dir)
	case errors.Is(err, gwkey.ErrNextExists), errors.Is(err, gwkey.ErrNoNext), errors.Is(err, gwkey.ErrUnknownKID), errors.Is(err, gwkey.ErrCurrentKey):
		return &usageError{err: fmt.Errorf("%v; nothing changed", err), hint: "see 'fifthwheel gateway key list'"}
	}
	return err
}

// gatewayKeyRow is one line of 'gateway key list' (its -o json object).
type gatewayKeyRow struct {
	KID     string     `json:"kid"`
	State   string     `json:"state"`
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
}

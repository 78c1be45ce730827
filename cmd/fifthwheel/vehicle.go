package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// maxKeyFileBytes bounds a key file read by 'vehicle key add': a PEM public
// key is under 200 bytes, an HS256 secret at most 64.
const maxKeyFileBytes = 16 << 10

func (a *app) vehicleCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "vehicle",
		Short: "Manage the vehicle registry, frame-signing keys and epochs",
		Long: `Manage the vehicle registry: which vehicles exist and may send, the keys
their telemetry frames are signed with (separate from their TLS keys), and the
epoch of their frame counters.

A suspended vehicle's frames are refused (vehicle_suspended) and its open
connections closed (its session with close 4005 vehicle_suspended) within a
second on every gateway; its certificates stay valid, so 'resume' restores
it.
Revoke its certificates ('fifthwheel pki revoke --vehicle ID') to cut it off
for good.`,
	})
	cmd.AddCommand(a.vehicleAddCmd(), a.vehicleListCmd(), a.vehicleStatusCmd("suspend", store.VehicleSuspended),
		a.vehicleStatusCmd("resume", store.VehicleActive), a.vehicleCarrierCmd(), a.vehicleKeyCmd(), a.vehicleEpochCmd())
	return cmd
}

func vehicleID(arg string) (principal.Principal, error) {
	p, err := principal.New(principal.Vehicle, arg)
	if err != nil {
		return p, &usageError{err: fmt.Errorf("vehicle ID %q: must be 1 to %d characters of [A-Za-z0-9._-], not starting with '.' or '-'", arg, principal.MaxIDLen)}
	}
	return p, nil
}

// withState opens the state, resolves the actor and runs fn.
func (a *app) withState(cmd *cobra.Command, f *stateFlags, op *operatorFlag, fn func(context.Context, *stateEnv, principal.Principal) error) error {
	ctx := cmd.Context()
	e, err := a.openState(cmd, f, false)
	if err != nil {
		return err
	}
	defer e.close()
	by := cliActor
	if op != nil {
		if by, err = op.actor(ctx, e); err != nil {
			return err
		}
	}
	return fn(ctx, e, by)
}

func (a *app) vehicleAddCmd() *cobra.Command {
	var (
		f       stateFlags
		op      operatorFlag
		carrier string
	)
	cmd := &cobra.Command{
		Use:   "add ID --carrier C",
		Short: "Register a vehicle of a carrier",
		Long: `Register a vehicle (status active) as a vehicle of carrier C, whose TMS
clients see it. Enrollment (with a join token naming the carrier) and 'pki
issue vehicle' register a vehicle themselves; this is for preparing the
registry ahead.`,
		Example: `  fifthwheel vehicle add truck-0042 --carrier acme-freight --data ./fw-data`,
		Args:    exactArgs(1, "a vehicle ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			if carrier == "" {
				return &usageError{err: errors.New("--carrier C is required: the carrier the vehicle belongs to")}
			}
			if _, err := parseCarrier(carrier); err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				err := e.st.CreateVehicle(ctx, store.Vehicle{ID: v.ID, Status: store.VehicleActive, CreatedAt: time.Now().UTC(), Carrier: carrier})
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("vehicle %s is already registered", v.ID)
				}
				if err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "register", Verdict: event.Accept,
					Severity: event.SeverityInfo, Code: codes.VehicleRegistered, Actor: by, Resource: v.String(),
					Attrs: map[string]any{"via": "cli", "carrier": carrier}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "registered %s (carrier %s)\n", v, carrier)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	cmd.Flags().StringVar(&carrier, "carrier", "", "the `CARRIER` the vehicle belongs to (required)")
	return cmd
}

func (a *app) vehicleCarrierCmd() *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	set := &cobra.Command{
		Use:   "set ID CARRIER",
		Short: "Move a vehicle to a carrier",
		Long: `Move a vehicle to CARRIER: that carrier's TMS clients see it, and the previous
carrier's stop seeing it within a second on every gateway. For vehicles
registered before carriers existed, or moved between carriers.`,
		Example: `  fifthwheel vehicle carrier set truck-0042 acme-freight --data ./fw-data`,
		Args:    exactArgs(2, "a vehicle ID and a carrier"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			carrier, err := parseCarrier(args[1])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := e.st.GetVehicle(ctx, v.ID)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s is not registered", v.ID)
				}
				if err != nil {
					return err
				}
				if cur.Carrier == carrier {
					fmt.Fprintf(a.stdout, "%s is already of carrier %s\n", v, carrier)
					return nil
				}
				if err := e.st.SetVehicleCarrier(ctx, v.ID, carrier); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "vehicle_carrier_set",
					Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.VehicleCarrierChanged, Actor: by,
					Resource: v.String(), Attrs: map[string]any{"from": cur.Carrier, "to": carrier}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: carrier %s -> %s\n", v, orDash(cur.Carrier), carrier)
				return nil
			})
		},
	}
	f.register(set.Flags())
	op.register(set)
	cmd := group(&cobra.Command{Use: "carrier", Short: "Change the carrier a vehicle belongs to"})
	cmd.AddCommand(set)
	return cmd
}

// vehicleJSON is a vehicle in `vehicle list -o json`; epoch is absent
// before its first frame.
type vehicleJSON struct {
	ID           string    `json:"id"`
	Status       string    `json:"status"`
	Carrier      string    `json:"carrier"`
	RegisteredAt time.Time `json:"registered_at"`
	Epoch        *int64    `json:"epoch,omitempty"`
}

func (a *app) vehicleListCmd() *cobra.Command {
	var (
		f   stateFlags
		out outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered vehicles",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				vs, err := e.st.ListVehicles(ctx)
				if err != nil {
					return err
				}
				doc := struct {
					Vehicles []vehicleJSON `json:"vehicles"`
				}{Vehicles: []vehicleJSON{}}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tCARRIER\tREGISTERED\tEPOCH")
				for _, v := range vs {
					j := vehicleJSON{ID: v.ID, Status: string(v.Status), Carrier: v.Carrier, RegisteredAt: v.CreatedAt.UTC()}
					epoch := "-"
					if c, err := e.st.GetCounter(ctx, v.ID); err == nil {
						epoch = strconv.FormatInt(c.Epoch, 10)
						j.Epoch = &c.Epoch
					}
					doc.Vehicles = append(doc.Vehicles, j)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Status, orDash(v.Carrier), v.CreatedAt.Format(time.RFC3339), epoch)
				}
				if out.json() {
					return a.printJSON(doc)
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	out.register(cmd)
	return cmd
}

func (a *app) vehicleStatusCmd(verb string, status store.VehicleStatus) *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	short := "Suspend a vehicle: its frames are refused until it is resumed"
	if verb == "resume" {
		short = "Resume a suspended vehicle"
	}
	cmd := &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Example: "  fifthwheel vehicle " + verb + " truck-0042 --data ./fw-data",
		Args:    exactArgs(1, "a vehicle ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := e.st.GetVehicle(ctx, v.ID)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s is not registered", v.ID)
				}
				if err != nil {
					return err
				}
				if cur.Status == status {
					fmt.Fprintf(a.stdout, "%s is already %s\n", v, status)
					return nil
				}
				if err := e.st.SetVehicleStatus(ctx, v.ID, status); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "vehicle_" + verb,
					Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.VehicleStatusChanged, Actor: by,
					Resource: v.String(), Attrs: map[string]any{"from": string(cur.Status), "to": string(status)}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: %s -> %s\n", v, cur.Status, status)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	return cmd
}

func (a *app) vehicleKeyCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "key",
		Short: "Manage a vehicle's frame-signing keys",
		Long: `Manage the keys a vehicle signs its telemetry frames with, separate from its
TLS key. A frame names its key by kid; a retired key verifies nothing, and a
kid is never reused. See docs/PROTOCOL.md, "Keys".`,
	})
	cmd.AddCommand(a.vehicleKeyAddCmd(), a.vehicleKeyRetireCmd(), a.vehicleKeyListCmd())
	return cmd
}

func (a *app) vehicleKeyAddCmd() *cobra.Command {
	var (
		f                   = caStateFlags() // --kek-file: HS256 secrets are sealed
		op                  operatorFlag
		alg, pub, secret, k string
	)
	cmd := &cobra.Command{
		Use:   "add ID --alg Ed25519|ES256 --pub FILE.pem [--kid KID]",
		Short: "Register a frame-signing key and print its kid",
		Long: `Register a frame-signing key for vehicle ID and print its kid on stdout.

  --alg Ed25519|ES256 --pub FILE   a PEM "PUBLIC KEY" file (PKIX), or the raw
                                   key (32 bytes; a 65-byte uncompressed P-256 point)
  --alg HS256 --secret-file FILE   the raw shared secret, 32 to 64 bytes
                                   (lower assurance; marked so in events),
                                   stored sealed under the CA directory's
                                   secrets key: this needs the KEK
                                   (FIFTHWHEEL_CA_PASSPHRASE or --kek-file; a
                                   'serve --dev' data directory has its own)

Refused: small-order or non-canonical Ed25519 points, other curves, secrets of
another size, a kid the vehicle already has. Without --kid the kid is derived
from the public key (k-...), or random for HS256 (h-...). The vehicle is
registered if the registry does not know it yet.`,
		Example: `  fifthwheel vehicle key add truck-0042 --alg Ed25519 --pub frame-key.pub.pem --data ./fw-data
  fifthwheel vehicle key add truck-0042 --alg HS256 --secret-file frame.secret --kid hs-2026 --data ./fw-data`,
		Args: exactArgs(1, "a vehicle ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			a2 := frame.Alg(alg)
			var path string
			switch {
			case a2 != frame.AlgEd25519 && a2 != frame.AlgES256 && a2 != frame.AlgHS256:
				return &usageError{err: fmt.Errorf("--alg %q: want Ed25519, ES256 or HS256", alg)}
			case a2 == frame.AlgHS256 && (secret == "" || pub != ""):
				return &usageError{err: errors.New("HS256 takes --secret-file FILE (the raw secret), not --pub")}
			case a2 != frame.AlgHS256 && (pub == "" || secret != ""):
				return &usageError{err: fmt.Errorf("%s takes --pub FILE (a PEM public key), not --secret-file", alg)}
			case a2 == frame.AlgHS256:
				path = secret
			default:
				path = pub
			}
			if k != "" && !ingest.ValidKID(k) {
				return &usageError{err: fmt.Errorf("--kid %q: must be 1 to 64 characters of [A-Za-z0-9._:-]", k)}
			}
			material, err := readBounded(path, maxKeyFileBytes)
			if err != nil {
				return err
			}
			defer clear(material)
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				key, err := ingest.NewVehicleKey(v.ID, a2, material, k, time.Now())
				if err != nil {
					msg := "not a usable " + alg + " key"
					if a2 == frame.AlgHS256 {
						msg = "an HS256 secret file must hold 32 to 64 raw bytes"
					} else if frame.CodeOf(err) == frame.CodeBadKey {
						msg += " (one PEM PUBLIC KEY block; small-order and non-canonical Ed25519 points and other curves are refused)"
					}
					if eerr := e.emitAction(ctx, event.Event{Class: event.ClassTelemetry, Activity: "frame_key_add",
						Verdict: event.Reject, Severity: event.SeverityLow, Code: codes.FrameKeyRefused, Actor: by,
						Resource: v.String(), Attrs: map[string]any{"alg": alg, "reason": string(frame.CodeBadKey)}}); eerr != nil {
						return eerr
					}
					return fmt.Errorf("refused (%s): %s", frame.CodeBadKey, msg)
				}
				if key.Alg == store.SecretAlg { // stored only sealed, under the secrets key
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
					clearSecret := key.Material
					key, err = ingest.SealVehicleKey(key, secrets)
					clear(clearSecret)
					if err != nil {
						return err
					}
				}
				if err := ensureRegistered(ctx, e, v, "", by); err != nil {
					return err
				}
				err = e.st.AddVehicleKey(ctx, key)
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("refused: vehicle %s already has a key under kid %q (kids are never reused)", v.ID, key.KID)
				}
				if err != nil {
					return err
				}
				attrs := map[string]any{"kid": key.KID, "alg": key.Alg, "via": "cli"}
				if a2.LowerAssurance() {
					attrs["assurance"] = "low"
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassTelemetry, Activity: "frame_key_add", Verdict: event.Accept,
					Severity: event.SeverityMedium, Code: codes.FrameKeyRegistered, Actor: by, Resource: v.String(),
					Attrs: attrs}); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, key.KID)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd)
	op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&alg, "alg", "", "the key's `ALG`: Ed25519, ES256 or HS256")
	fs.StringVar(&pub, "pub", "", "the public key `FILE` (PEM PUBLIC KEY) for Ed25519 and ES256")
	fs.StringVar(&secret, "secret-file", "", "the HS256 secret `FILE` (32 to 64 raw bytes)")
	fs.StringVar(&k, "kid", "", "register under `KID` (default: derived from the key)")
	return cmd
}

// readBounded reads a small file, refusing one larger than limit.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key file", path, limit)
	}
	return b, nil
}

func (a *app) vehicleKeyRetireCmd() *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	cmd := &cobra.Command{
		Use:   "retire ID KID",
		Short: "Retire a frame-signing key: frames signed with it are refused",
		Long: `Retire vehicle ID's key KID. Frames naming it are refused (retired_kid) on
every gateway within a second. The kid stays taken: it is never reused.`,
		Example: `  fifthwheel vehicle key retire truck-0042 k-3v9Qd2mB0tq1x7Zc8yKc2A --data ./fw-data`,
		Args:    exactArgs(2, "a vehicle ID and a KID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			kid := args[1]
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				if _, err := e.st.GetVehicle(ctx, v.ID); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s is not registered", v.ID)
				} else if err != nil {
					return err
				}
				k, err := e.st.GetVehicleKey(ctx, v.ID, kid)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s has no key %q", v.ID, kid)
				}
				if err != nil {
					return err
				}
				if k.Status == store.KeyRetired {
					fmt.Fprintf(a.stdout, "key %s of %s was already retired at %s\n", kid, v, k.RetiredAt.Format(time.RFC3339))
					return nil
				}
				if err := e.st.RetireVehicleKey(ctx, v.ID, kid, time.Now().UTC()); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassTelemetry, Activity: "frame_key_retire", Verdict: event.Info,
					Severity: event.SeverityMedium, Code: codes.FrameKeyRetired, Actor: by, Resource: v.String(),
					Attrs: map[string]any{"kid": kid, "alg": k.Alg}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "retired key %s of %s\n", kid, v)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	return cmd
}

func (a *app) vehicleKeyListCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "list ID",
		Short: "List a vehicle's frame-signing keys",
		Args:  exactArgs(1, "a vehicle ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				if _, err := e.st.GetVehicle(ctx, v.ID); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s is not registered", v.ID)
				} else if err != nil {
					return err
				}
				keys, err := e.st.ListVehicleKeys(ctx, v.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATUS\tADDED\tRETIRED")
				for _, k := range keys {
					retired := "-"
					if !k.RetiredAt.IsZero() {
						retired = k.RetiredAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.Status, k.CreatedAt.Format(time.RFC3339), retired)
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func (a *app) vehicleEpochCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "epoch",
		Short: "Authorize a vehicle's next frame-counter epoch",
		Long: `A vehicle's frames carry (epoch, seq), strictly increasing. After a reset of
its counter state (new compute unit, lost storage) a vehicle starts a new
epoch; the gateway refuses it (epoch_not_authorized) until an operator
authorizes it here. This is an audited operator action: it needs an operator
credential (--as DIR, default DATA/operator).`,
	})
	var (
		f  stateFlags
		op operatorFlag
		to int64
	)
	adv := &cobra.Command{
		Use:     "advance ID --to N",
		Short:   "Authorize epoch N (greater than the current one) for vehicle ID",
		Example: `  fifthwheel vehicle epoch advance truck-0042 --to 4 --data ./fw-data`,
		Args:    exactArgs(1, "a vehicle ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vehicleID(args[0])
			if err != nil {
				return err
			}
			if to < 1 || to > frame.MaxSafeInteger {
				return &usageError{err: fmt.Errorf("--to must be an epoch from 1 to %d", int64(frame.MaxSafeInteger))}
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				if by.Kind != principal.Operator {
					return &usageError{err: errors.New("advancing an epoch is an audited operator action: it needs an operator credential (--as DIR, default DATA/operator)"),
						hint: "issue one with 'fifthwheel pki issue operator NAME --out DIR'"}
				}
				if _, err := e.st.GetVehicle(ctx, v.ID); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("vehicle %s is not registered", v.ID)
				} else if err != nil {
					return err
				}
				from := int64(0)
				if c, err := e.st.GetCounter(ctx, v.ID); err == nil {
					from = c.Epoch
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				err := e.st.AdvanceEpoch(ctx, v.ID, to, time.Now().UTC())
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("refused: epochs only move forward; %s is at epoch %d", v.ID, from)
				}
				if err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassTelemetry, Activity: "epoch_advance", Verdict: event.Accept,
					Severity: event.SeverityHigh, Code: codes.EpochAdvanced, Actor: by, Resource: v.String(),
					Attrs: map[string]any{"from": from, "to": to}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: epoch %d -> %d, authorized by %s\n", v, from, to, by)
				return nil
			})
		},
	}
	f.register(adv.Flags())
	op.register(adv)
	adv.Flags().Int64Var(&to, "to", 0, "the new `EPOCH`")
	cmd.AddCommand(adv)
	return cmd
}

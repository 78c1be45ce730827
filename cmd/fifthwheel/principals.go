package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The TMS client and operator registries: who may call the TMS API, for
// which carrier, with which roles; and operators as principals with roles.
// Every change is one store write that moves the authority version (so
// gateways drop their authorization caches within a second) and one event
// naming the acting operator.

func principalID(kind principal.Kind, arg string) (principal.Principal, error) {
	p, err := principal.New(kind, arg)
	if err != nil {
		return p, &usageError{err: fmt.Errorf("%s ID %q: must be 1 to %d characters of [A-Za-z0-9._-], not starting with '.' or '-'", kind, arg, principal.MaxIDLen)}
	}
	return p, nil
}

func (a *app) clientCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "client",
		Short: "Manage the TMS clients: carrier, roles, allowed sources and hours",
		Long: `Manage the TMS clients that call the TMS API. A client belongs to one
carrier and sees only that carrier's vehicles; it may do what its roles grant
(none until 'client roles set'). A suspended client's tokens stop working,
and a removed role stops granting, within a second on every gateway.

The client's certificate is issued with 'fifthwheel pki issue client ID'.`,
	})
	cmd.AddCommand(a.clientAddCmd(), a.clientListCmd(), a.clientShowCmd(),
		a.clientStatusCmd("suspend", store.ClientSuspended), a.clientStatusCmd("resume", store.ClientActive),
		rolesGroup(a.clientRolesSetCmd()), a.clientAccessCmd(), a.clientCarrierCmd(), a.clientWebhookCmd())
	return cmd
}

func (a *app) clientCarrierCmd() *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	set := &cobra.Command{
		Use:   "set ID CARRIER",
		Short: "Move a TMS client to a carrier",
		Long: `Move a TMS client to CARRIER: within a second on every gateway it sees that
carrier's vehicles and no longer the previous carrier's. For clients
registered without a carrier ('pki issue client' without --carrier, or an
older version).`,
		Example: `  fifthwheel client carrier set acme-tms acme-freight --data ./fw-data`,
		Args:    exactArgs(2, "a client ID and a carrier"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			carrier, err := parseCarrier(args[1])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := getClient(ctx, e, p.ID)
				if err != nil {
					return err
				}
				if cur.Carrier == carrier {
					fmt.Fprintf(a.stdout, "%s is already of carrier %s\n", p, carrier)
					return nil
				}
				if err := e.st.SetClientCarrier(ctx, p.ID, carrier); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "client_carrier_set",
					Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.ClientAccessChanged, Actor: by,
					Resource: p.String(), Attrs: map[string]any{"from": map[string]any{"carrier": cur.Carrier},
						"to": map[string]any{"carrier": carrier}}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: carrier %s -> %s\n", p, orDash(cur.Carrier), carrier)
				return nil
			})
		},
	}
	f.register(set.Flags())
	op.register(set)
	cmd := group(&cobra.Command{Use: "carrier", Short: "Change the carrier a TMS client belongs to"})
	cmd.AddCommand(set)
	return cmd
}

func rolesGroup(set *cobra.Command) *cobra.Command {
	cmd := group(&cobra.Command{Use: "roles", Short: "Set a principal's roles"})
	cmd.AddCommand(set)
	return cmd
}

func (a *app) clientAddCmd() *cobra.Command {
	var (
		f                    stateFlags
		op                   operatorFlag
		carrier, name, roles string
		hours                string
		sources              []string
	)
	cmd := &cobra.Command{
		Use:   "add ID --carrier C",
		Short: "Register a TMS client (no roles unless --roles)",
		Example: `  fifthwheel client add acme-tms --carrier acme-freight --roles dispatcher,planner \
      --allow-source 198.51.100.0/24 --hours 06:00-20:00 --data ./fw-data`,
		Args: exactArgs(1, "a client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			if carrier == "" {
				return &usageError{err: errors.New("--carrier C is required: the carrier whose vehicles the client sees")}
			}
			c := store.Client{ID: p.ID, Name: name, Status: store.ClientActive, CreatedAt: time.Now().UTC()}
			if c.Name == "" {
				c.Name = p.ID
			}
			if c.Carrier, err = parseCarrier(carrier); err != nil {
				return err
			}
			if c.Roles, err = parseRoles(roles); err != nil {
				return err
			}
			if c.AllowedSources, err = parseSources(sources); err != nil {
				return err
			}
			if c.Hours, err = parseHours(hours); err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				err := e.st.CreateClient(ctx, c)
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("client %s is already registered", p.ID)
				}
				if err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "client_add", Verdict: event.Accept,
					Severity: event.SeverityInfo, Code: codes.ClientRegistered, Actor: by, Resource: p.String(),
					Attrs: map[string]any{"via": "cli", "carrier": c.Carrier, "roles": c.Roles, "allowed_sources": c.AllowedSources, "hours": c.Hours}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "registered %s (carrier %s, roles %s)\n", p, c.Carrier, listOrDash(c.Roles))
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&carrier, "carrier", "", "the `CARRIER` whose vehicles the client sees (required)")
	fs.StringVar(&name, "name", "", "a display `NAME` (default: the ID)")
	fs.StringVar(&roles, "roles", "", "comma-separated `ROLES` (default: none): "+roleNames())
	fs.StringArrayVar(&sources, "allow-source", nil, "a `CIDR` the client may call from (repeat; default: any)")
	fs.StringVar(&hours, "hours", "", "the client's usual hours, `HH:MM-HH:MM` UTC (default: any)")
	return cmd
}

// clientJSON is a TMS client in `client list -o json`.
type clientJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Status         string    `json:"status"`
	Carrier        string    `json:"carrier"`
	Roles          []string  `json:"roles"`
	AllowedSources []string  `json:"allowed_sources"`
	Hours          string    `json:"hours,omitempty"`
	RegisteredAt   time.Time `json:"registered_at"`
}

func (a *app) clientListCmd() *cobra.Command {
	var (
		f   stateFlags
		out outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the TMS clients",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				cs, err := e.st.ListClients(ctx)
				if err != nil {
					return err
				}
				if out.json() {
					doc := struct {
						Clients []clientJSON `json:"clients"`
					}{Clients: []clientJSON{}}
					for _, c := range cs {
						doc.Clients = append(doc.Clients, clientJSON{ID: c.ID, Name: c.Name, Status: string(c.Status), Carrier: c.Carrier,
							Roles: nonNil(c.Roles), AllowedSources: nonNil(c.AllowedSources), Hours: c.Hours, RegisteredAt: c.CreatedAt.UTC()})
					}
					return a.printJSON(doc)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tCARRIER\tROLES\tSOURCES\tHOURS\tREGISTERED")
				for _, c := range cs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Status, orDash(c.Carrier), listOrDash(c.Roles),
						listOrDash(c.AllowedSources), orDash(c.Hours), c.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	out.register(cmd)
	return cmd
}

func (a *app) clientShowCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one TMS client",
		Args:  exactArgs(1, "a client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				c, err := getClient(ctx, e, p.ID)
				if err != nil {
					return err
				}
				hook, err := webhookShow(ctx, e, p.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "id\t%s\nname\t%s\nstatus\t%s\ncarrier\t%s\nroles\t%s\nallowed sources\t%s\nhours\t%s\nregistered\t%s\nwebhook\t%s\n",
					c.ID, c.Name, c.Status, orDash(c.Carrier), listOrDash(c.Roles), orAny(c.AllowedSources), orAnyTime(c.Hours),
					c.CreatedAt.Format(time.RFC3339), hook)
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func orAny(l []string) string {
	if len(l) == 0 {
		return "any"
	}
	return listOrDash(l)
}

func orAnyTime(h string) string {
	if h == "" {
		return "any (UTC)"
	}
	return h + " UTC"
}

func getClient(ctx context.Context, e *stateEnv, id string) (store.Client, error) {
	c, err := e.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("client %s is not registered", id)
	}
	return c, err
}

func getOperator(ctx context.Context, e *stateEnv, id string) (store.Operator, error) {
	o, err := e.st.GetOperator(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return o, fmt.Errorf("operator %s is not registered", id)
	}
	return o, err
}

func (a *app) clientStatusCmd(verb string, status store.ClientStatus) *cobra.Command {
	short := "Suspend a TMS client: its tokens stop working within a second"
	if verb == "resume" {
		short = "Resume a suspended TMS client"
	}
	return a.principalStatusCmd(verb, statusChange{kind: principal.Client, noun: "a client ID", short: short, code: codes.ClientStatusChanged,
		example: "acme-tms", to: string(status),
		current: func(ctx context.Context, e *stateEnv, id string) (string, error) {
			c, err := getClient(ctx, e, id)
			return string(c.Status), err
		},
		set: func(ctx context.Context, e *stateEnv, id string) error { return e.st.SetClientStatus(ctx, id, status) }})
}

// rolesSetCmd is 'client roles set' and 'operator roles set': read the
// current roles (get), replace them (set), record roles_changed.
func (a *app) rolesSetCmd(kind principal.Kind, get func(context.Context, *stateEnv, string) ([]string, error),
	set func(context.Context, *stateEnv, string, []string) error) *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	cmd := &cobra.Command{
		Use:   "set ID ROLES",
		Short: "Replace a " + string(kind) + "'s roles (comma-separated; \"\" removes every role)",
		Long: `Replace the roles of a ` + string(kind) + ` with ROLES, a comma-separated list of
` + roleNames() + `. An empty ROLES ("") removes every role. A removed role
stops granting within a second on every gateway, unexpired tokens included.`,
		Example: "  fifthwheel " + string(kind) + " roles set ID planner,dispatcher --data ./fw-data\n  fifthwheel " + string(kind) + " roles set ID '' --data ./fw-data",
		Args:    exactArgs(2, "an ID and a role list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(kind, args[0])
			if err != nil {
				return err
			}
			roles, err := parseRoles(args[1])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := get(ctx, e, p.ID)
				if err != nil {
					return err
				}
				if slices.Equal(cur, roles) {
					fmt.Fprintf(a.stdout, "%s: roles unchanged (%s)\n", p, listOrDash(roles))
					return nil
				}
				if err := set(ctx, e, p.ID, roles); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "roles_set",
					Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.RolesChanged, Actor: by,
					Resource: p.String(), Attrs: map[string]any{"from": nonNil(cur), "to": nonNil(roles)}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: roles %s -> %s\n", p, listOrDash(cur), listOrDash(roles))
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	return cmd
}

// nonNil makes an empty list an empty JSON array in events, not null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (a *app) clientRolesSetCmd() *cobra.Command {
	return a.rolesSetCmd(principal.Client,
		func(ctx context.Context, e *stateEnv, id string) ([]string, error) {
			c, err := getClient(ctx, e, id)
			return c.Roles, err
		},
		func(ctx context.Context, e *stateEnv, id string, roles []string) error {
			return e.st.SetClientRoles(ctx, id, roles)
		})
}

func (a *app) clientAccessCmd() *cobra.Command {
	var (
		f       stateFlags
		op      operatorFlag
		sources []string
		hours   string
	)
	set := &cobra.Command{
		Use:   "set ID [--allow-source CIDR]... [--hours HH:MM-HH:MM]",
		Short: "Change a TMS client's allowed source ranges and usual hours",
		Long: `Change what the front door checks for a TMS client. --allow-source (repeat)
replaces the ranges the client may call from; '--allow-source any' allows
every source. --hours replaces the client's usual hours (UTC; 'any' for no
window), which feed its risk score. A setting not given is left as it is.`,
		Example: `  fifthwheel client access set acme-tms --allow-source 198.51.100.0/24 --allow-source 2001:db8::/48 --data ./fw-data
  fifthwheel client access set acme-tms --hours 22:00-06:00 --data ./fw-data
  fifthwheel client access set acme-tms --allow-source any --hours any --data ./fw-data`,
		Args: exactArgs(1, "a client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Client, args[0])
			if err != nil {
				return err
			}
			setSources, setHours := cmd.Flags().Changed("allow-source"), cmd.Flags().Changed("hours")
			if !setSources && !setHours {
				return &usageError{err: errors.New("give --allow-source and/or --hours: nothing to change")}
			}
			var newSources []string
			if setSources {
				if len(sources) == 1 && sources[0] == "any" {
					sources = nil
				}
				if newSources, err = parseSources(sources); err != nil {
					return err
				}
			}
			newHours, err := parseHours(hours)
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := getClient(ctx, e, p.ID)
				if err != nil {
					return err
				}
				if !setSources {
					newSources = cur.AllowedSources
				}
				if !setHours {
					newHours = cur.Hours
				}
				if slices.Equal(cur.AllowedSources, newSources) && cur.Hours == newHours {
					fmt.Fprintf(a.stdout, "%s: access unchanged\n", p)
					return nil
				}
				if err := e.st.SetClientAccess(ctx, p.ID, newSources, newHours); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "client_access_set",
					Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.ClientAccessChanged, Actor: by,
					Resource: p.String(), Attrs: map[string]any{
						"from": map[string]any{"allowed_sources": nonNil(cur.AllowedSources), "hours": cur.Hours},
						"to":   map[string]any{"allowed_sources": nonNil(newSources), "hours": newHours}}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: allowed sources %s, hours %s\n", p, orAny(newSources), orAnyTime(newHours))
				return nil
			})
		},
	}
	f.register(set.Flags())
	op.register(set)
	set.Flags().StringArrayVar(&sources, "allow-source", nil, "a `CIDR` the client may call from (repeat), or any")
	set.Flags().StringVar(&hours, "hours", "", "usual hours `HH:MM-HH:MM` UTC, or any")
	cmd := group(&cobra.Command{Use: "access", Short: "Change a TMS client's allowed sources and hours"})
	cmd.AddCommand(set)
	return cmd
}

// --- operators ---

func (a *app) operatorCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "operator",
		Short: "Manage operators as principals with roles",
		Long: `Manage the operators: people who act through the CLI and the TMS API with an
operator certificate ('fifthwheel pki issue operator ID', 12 h by default).
An operator has no role until 'operator roles set' (approver,
security-admin, auditor, fleet-admin are operators' roles). A suspended
operator cannot act, with the CLI or a token, until resumed.`,
	})
	cmd.AddCommand(a.operatorAddCmd(), a.operatorListCmd(), a.operatorShowCmd(),
		a.operatorStatusCmd("suspend", store.OperatorSuspended), a.operatorStatusCmd("resume", store.OperatorActive),
		rolesGroup(a.rolesSetCmd(principal.Operator,
			func(ctx context.Context, e *stateEnv, id string) ([]string, error) {
				o, err := getOperator(ctx, e, id)
				return o.Roles, err
			},
			func(ctx context.Context, e *stateEnv, id string, roles []string) error {
				return e.st.SetOperatorRoles(ctx, id, roles)
			})))
	return cmd
}

func (a *app) operatorAddCmd() *cobra.Command {
	var (
		f           stateFlags
		op          operatorFlag
		name, roles string
	)
	cmd := &cobra.Command{
		Use:     "add ID",
		Short:   "Register an operator (no roles unless --roles)",
		Example: `  fifthwheel operator add alice --name "Alice Ng" --roles approver,auditor --data ./fw-data`,
		Args:    exactArgs(1, "an operator ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Operator, args[0])
			if err != nil {
				return err
			}
			o := store.Operator{ID: p.ID, Name: name, Status: store.OperatorActive, CreatedAt: time.Now().UTC()}
			if o.Name == "" {
				o.Name = p.ID
			}
			if o.Roles, err = parseRoles(roles); err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				err := e.st.CreateOperator(ctx, o)
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("operator %s is already registered", p.ID)
				}
				if err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "operator_add", Verdict: event.Accept,
					Severity: event.SeverityInfo, Code: codes.OperatorRegistered, Actor: by, Resource: p.String(),
					Attrs: map[string]any{"via": "cli", "roles": nonNil(o.Roles)}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "registered %s (roles %s)\n", p, listOrDash(o.Roles))
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "a display `NAME` (default: the ID)")
	cmd.Flags().StringVar(&roles, "roles", "", "comma-separated `ROLES` (default: none): "+roleNames())
	return cmd
}

// operatorJSON is an operator in `operator list -o json`.
type operatorJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	Roles        []string  `json:"roles"`
	RegisteredAt time.Time `json:"registered_at"`
}

func (a *app) operatorListCmd() *cobra.Command {
	var (
		f   stateFlags
		out outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the operators",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				os, err := e.st.ListOperators(ctx)
				if err != nil {
					return err
				}
				if out.json() {
					doc := struct {
						Operators []operatorJSON `json:"operators"`
					}{Operators: []operatorJSON{}}
					for _, o := range os {
						doc.Operators = append(doc.Operators, operatorJSON{ID: o.ID, Name: o.Name, Status: string(o.Status), Roles: nonNil(o.Roles),
							RegisteredAt: o.CreatedAt.UTC()})
					}
					return a.printJSON(doc)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tROLES\tNAME\tREGISTERED")
				for _, o := range os {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ID, o.Status, listOrDash(o.Roles), o.Name, o.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	out.register(cmd)
	return cmd
}

func (a *app) operatorShowCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one operator",
		Args:  exactArgs(1, "an operator ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(principal.Operator, args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				o, err := getOperator(ctx, e, p.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "id\t%s\nname\t%s\nstatus\t%s\nroles\t%s\nregistered\t%s\n",
					o.ID, o.Name, o.Status, listOrDash(o.Roles), o.CreatedAt.Format(time.RFC3339))
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func (a *app) operatorStatusCmd(verb string, status store.OperatorStatus) *cobra.Command {
	short := "Suspend an operator: it cannot act until resumed"
	if verb == "resume" {
		short = "Resume a suspended operator"
	}
	return a.principalStatusCmd(verb, statusChange{kind: principal.Operator, noun: "an operator ID", short: short, code: codes.OperatorStatusChanged,
		example: "alice", to: string(status),
		current: func(ctx context.Context, e *stateEnv, id string) (string, error) {
			o, err := getOperator(ctx, e, id)
			return string(o.Status), err
		},
		set: func(ctx context.Context, e *stateEnv, id string) error {
			return e.st.SetOperatorStatus(ctx, id, status)
		}})
}

// statusChange is the suspension or resumption of a registered client or
// operator: how to read its status and set it to to, and the event code.
type statusChange struct {
	kind                           principal.Kind
	noun, short, code, example, to string
	current                        func(ctx context.Context, e *stateEnv, id string) (string, error)
	set                            func(ctx context.Context, e *stateEnv, id string) error
}

// principalStatusCmd is `client|operator suspend|resume ID`: a change that
// would change nothing says so and records nothing; a change records one
// event with the acting operator.
func (a *app) principalStatusCmd(verb string, c statusChange) *cobra.Command {
	var (
		f  stateFlags
		op operatorFlag
	)
	cmd := &cobra.Command{
		Use:     verb + " ID",
		Short:   c.short,
		Example: "  fifthwheel " + string(c.kind) + " " + verb + " " + c.example + " --data ./fw-data",
		Args:    exactArgs(1, c.noun),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := principalID(c.kind, args[0])
			if err != nil {
				return err
			}
			return a.withState(cmd, &f, &op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
				cur, err := c.current(ctx, e, p.ID)
				if err != nil {
					return err
				}
				if cur == c.to {
					fmt.Fprintf(a.stdout, "%s is already %s\n", p, c.to)
					return nil
				}
				if err := c.set(ctx, e, p.ID); err != nil {
					return err
				}
				if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: string(c.kind) + "_" + verb,
					Verdict: event.Info, Severity: event.SeverityMedium, Code: c.code, Actor: by,
					Resource: p.String(), Attrs: map[string]any{"from": cur, "to": c.to}}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: %s -> %s\n", p, cur, c.to)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	op.register(cmd)
	return cmd
}

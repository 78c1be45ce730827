package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

func (a *app) incidentsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "incidents",
		Short: "Incidents opened by detection: lifecycle, notification clocks, containment",
		Long: `Incidents group detection findings by subject and time (docs/INCIDENTS.md).
Each carries notification clocks from its opening (internal, customer,
regulator early warning, regulator); 'show' prints them with what is due
and overdue, and the runbook of each rule that fired. Every change is
recorded with the acting operator (--as, default DATA/operator) and as a
security event. Lifecycle: open -> acknowledged -> contained -> resolved.`,
	})
	cmd.AddCommand(a.incidentsListCmd(), a.incidentsShowCmd(), a.incidentsAckCmd(), a.incidentsContainCmd(),
		a.incidentsResolveCmd(), a.incidentsNoteCmd(), a.incidentsNotifyCmd())
	return cmd
}

// withIncidents runs fn with the incident manager on the state of f, as
// the operator of op (nil: read only). withCA loads the fleet CA too (a
// revocation goes through it).
func (a *app) withIncidents(cmd *cobra.Command, f *stateFlags, op *operatorFlag, withCA bool,
	fn func(ctx context.Context, m *incident.Manager, by principal.Principal) error) error {
	return a.withState(cmd, f, op, func(ctx context.Context, e *stateEnv, by principal.Principal) error {
		var ca *pki.CA
		if withCA {
			c, err := a.openCA(ctx, e)
			if err != nil {
				return err
			}
			ca = c
		}
		m, err := newIncidents(e.cfg, e.st, e.bus, ca, nil, e.log)
		if err != nil {
			return err
		}
		return incidentError(fn(ctx, m, by))
	})
}

// incidentError turns a manager's refusal into the CLI's error.
func incidentError(err error) error {
	var r *incident.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &r):
		return fmt.Errorf("refused (%s): %s", r.Code, r.Detail)
	case errors.Is(err, incident.ErrNotFound):
		return errors.New("no such incident")
	}
	return err
}

func (a *app) incidentsListCmd() *cobra.Command {
	var (
		f      stateFlags
		out    outputFlag
		state  string
		cursor string
		limit  int
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List incidents, oldest first",
		Example: "  fifthwheel incidents list --state open --data ./fw-data\n  fifthwheel incidents list -o json --data ./fw-data",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if limit < 1 || limit > store.MaxPage {
				return &usageError{err: fmt.Errorf("--limit %d: want 1 to %d", limit, store.MaxPage)}
			}
			switch store.IncidentState(state) {
			case "", store.IncidentOpen, store.IncidentAcknowledged, store.IncidentContained, store.IncidentResolved:
			default:
				return &usageError{err: fmt.Errorf("--state %q: want open, acknowledged, contained or resolved", state)}
			}
			return a.withIncidents(cmd, &f, nil, false, func(ctx context.Context, m *incident.Manager, _ principal.Principal) error {
				l, err := m.List(ctx, store.IncidentState(state), cursor, limit)
				if err != nil {
					return err
				}
				if out.json() {
					doc := struct {
						Incidents  []incident.Summary `json:"incidents"`
						NextCursor string             `json:"next_cursor,omitempty"`
					}{Incidents: make([]incident.Summary, len(l))}
					for i, inc := range l {
						doc.Incidents[i] = incident.SummaryOf(inc)
					}
					if len(l) == limit {
						doc.NextCursor = l[len(l)-1].ID
					}
					return a.printJSON(doc)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tSAFETY\tSUBJECT\tRULES\tOPENED")
				for _, inc := range l {
					s := incident.SummaryOf(inc)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s:%s\t%s\t%s\n", s.ID, s.State, s.Severity, yesNo(s.Safety), s.SubjectKind, s.Subject,
						orDash(strings.Join(s.Rules, ",")), s.OpenedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd.Flags())
	out.register(cmd.Flags())
	cmd.Flags().StringVar(&state, "state", "", "only incidents in `STATE` (open, acknowledged, contained, resolved)")
	cmd.Flags().StringVar(&cursor, "after", "", "only incidents after `ID` (the last of the previous page)")
	cmd.Flags().IntVar(&limit, "limit", store.DefaultPage, "at most `N` incidents")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) incidentsShowCmd() *cobra.Command {
	var (
		f   stateFlags
		out outputFlag
	)
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show an incident: its clocks (due, overdue), runbooks, findings, notes and actions",
		Example: "  fifthwheel incidents show inc-0195... --data ./fw-data",
		Args:    exactArgs(1, "an incident ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return a.withIncidents(cmd, &f, nil, false, func(ctx context.Context, m *incident.Manager, _ principal.Principal) error {
				v, err := m.Get(ctx, args[0])
				if err != nil {
					return err
				}
				d := incident.DetailOf(v)
				if out.json() {
					return a.printJSON(d)
				}
				a.printIncident(d, time.Now().UTC())
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	out.register(cmd.Flags())
	return cmd
}

// printIncident prints d for a person: the clocks and runbooks first,
// what an operator acts on.
func (a *app) printIncident(d incident.Detail, now time.Time) {
	w := a.stdout
	fmt.Fprintf(w, "incident   %s\n", d.ID)
	fmt.Fprintf(w, "title      %s\n", d.Title)
	fmt.Fprintf(w, "subject    %s %s\n", d.SubjectKind, d.Subject)
	fmt.Fprintf(w, "state      %s\n", d.State)
	fmt.Fprintf(w, "severity   %s (safety: %s)\n", d.Severity, yesNo(d.Safety))
	fmt.Fprintf(w, "opened     %s\n", d.OpenedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "rules      %s\n", orDash(strings.Join(d.Rules, ", ")))
	fmt.Fprintln(w, "\nCLOCKS")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLOCK\tDUE\tSTATUS\tDETAIL")
	for _, c := range d.Clocks {
		detail := ""
		switch {
		case c.DoneAt != nil:
			detail = "done " + c.DoneAt.Format(time.RFC3339)
		case c.Status == string(incident.ClockOverdue):
			detail = "overdue by " + now.Sub(c.DueAt).Round(time.Second).String()
			if c.EscalatedAt != nil {
				detail += ", escalated " + c.EscalatedAt.Format(time.RFC3339)
			}
		case c.Status == string(incident.ClockPending):
			detail = "due in " + c.DueAt.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Kind, c.DueAt.Format(time.RFC3339), strings.ToUpper(c.Status), orDash(detail))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nRUNBOOK")
	if len(d.Runbooks) == 0 {
		fmt.Fprintln(w, "  (the rules that fired have no runbook text)")
	}
	for _, r := range d.Runbooks {
		fmt.Fprintf(w, "[%s]\n", r.Rule)
		for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	fmt.Fprintln(w, "\nFINDINGS")
	for _, f := range d.Findings {
		fmt.Fprintf(w, "  %s  %s  %s x%d  %s\n", f.At.Format(time.RFC3339), f.Rule, f.Severity, f.Count, f.Title)
	}
	if len(d.Containment) > 0 {
		fmt.Fprintln(w, "\nCONTAINMENT")
		for _, c := range d.Containment {
			fmt.Fprintf(w, "  %s  %s %s by %s: %s\n", c.At.Format(time.RFC3339), c.Action, c.Target, c.Actor, c.Result)
		}
	}
	if len(d.Notifications) > 0 {
		fmt.Fprintln(w, "\nNOTIFICATIONS")
		for _, n := range d.Notifications {
			fmt.Fprintf(w, "  %s  %s via %s to %s by %s %s\n", n.At.Format(time.RFC3339), n.Clock, n.Channel, n.Recipient, n.Actor, n.Reference)
		}
	}
	if len(d.Notes) > 0 {
		fmt.Fprintln(w, "\nNOTES")
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  %s  %s: %s\n", n.At.Format(time.RFC3339), n.Actor, n.Text)
		}
	}
	fmt.Fprintln(w, "\nHISTORY")
	for _, t := range d.Transitions {
		fmt.Fprintf(w, "  %s  %s -> %s by %s %s\n", t.At.Format(time.RFC3339), orDash(t.From), t.To, t.Actor, t.Reason)
	}
}

// incidentChangeCmd is a state command on one incident, as an operator.
func (a *app) incidentChangeCmd(use, short, example string, withCA func() bool, register func(*cobra.Command),
	act func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error)) *cobra.Command {
	var (
		f  = caStateFlags()
		op operatorFlag
	)
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    exactArgs(1, "an incident ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withIncidents(cmd, &f, &op, withCA(), func(ctx context.Context, m *incident.Manager, by principal.Principal) error {
				msg, err := act(ctx, m, args[0], by)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, msg)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	registerKEKFlag(cmd) // a revocation loads the fleet CA
	op.register(cmd)
	register(cmd)
	return cmd
}

func never() bool { return false }

func (a *app) incidentsAckCmd() *cobra.Command {
	var note string
	return a.incidentChangeCmd("ack ID", "Acknowledge an open incident (its internal clock is done)",
		"  fifthwheel incidents ack inc-0195... --note 'looking into it' --data ./fw-data", never,
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&note, "note", "", "why, or what happens next (`TEXT`)")
		},
		func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error) {
			inc, err := m.Acknowledge(ctx, id, by, note)
			return fmt.Sprintf("%s: %s (by %s)", inc.ID, inc.State, by), err
		})
}

func (a *app) incidentsContainCmd() *cobra.Command {
	var action, target, reason string
	return a.incidentChangeCmd("contain ID --action ACTION [--target ID]",
		"Take a containment action: revoke_certificate, suspend_client, hold_commands, release_hold",
		"  fifthwheel incidents contain inc-0195... --action hold_commands --data ./fw-data\n"+
			"  fifthwheel incidents contain inc-0195... --action revoke_certificate --reason key_compromise --data ./fw-data\n"+
			"  fifthwheel incidents contain inc-0195... --action suspend_client --target acme-tms --data ./fw-data",
		func() bool { return action == incident.ActionRevokeCertificate },
		func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.StringVar(&action, "action", "", "the containment `ACTION`: "+strings.Join(incident.Actions, ", "))
			fs.StringVar(&target, "target", "", "the vehicle or client `ID` (default: the incident's subject, when of that kind)")
			fs.StringVar(&reason, "reason", "", "why (`TEXT`; for a revocation, an RFC 5280 reason name such as key_compromise)")
		},
		func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error) {
			if action == "" {
				return "", &usageError{err: errors.New("--action is required: " + strings.Join(incident.Actions, ", "))}
			}
			inc, err := m.Contain(ctx, id, by, incident.Action{Kind: action, Target: target, Reason: reason})
			if err != nil {
				return "", err
			}
			v, err := m.Get(ctx, inc.ID)
			if err != nil || len(v.Containment) == 0 {
				return fmt.Sprintf("%s: %s", inc.ID, inc.State), err
			}
			last := v.Containment[len(v.Containment)-1]
			return fmt.Sprintf("%s: %s %s: %s; incident %s", inc.ID, last.Action, last.Target, last.Result, inc.State), nil
		})
}

func (a *app) incidentsResolveCmd() *cobra.Command {
	var reason string
	return a.incidentChangeCmd("resolve ID --reason TEXT", "Resolve an incident (final); a hold it placed is released",
		"  fifthwheel incidents resolve inc-0195... --reason 'false positive: clock reset' --data ./fw-data", never,
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&reason, "reason", "", "why it is resolved (`TEXT`, required)")
		},
		func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error) {
			if strings.TrimSpace(reason) == "" {
				return "", &usageError{err: errors.New("--reason is required")}
			}
			inc, err := m.Resolve(ctx, id, by, reason)
			return fmt.Sprintf("%s: %s (by %s)", inc.ID, inc.State, by), err
		})
}

func (a *app) incidentsNoteCmd() *cobra.Command {
	var text string
	return a.incidentChangeCmd("note ID --text TEXT", "Add a note to an incident",
		"  fifthwheel incidents note inc-0195... --text 'carrier informed by phone' --data ./fw-data", never,
		func(cmd *cobra.Command) { cmd.Flags().StringVar(&text, "text", "", "the note (`TEXT`, required)") },
		func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error) {
			if strings.TrimSpace(text) == "" {
				return "", &usageError{err: errors.New("--text is required")}
			}
			return id + ": note added", m.AddNote(ctx, id, by, text)
		})
}

func (a *app) incidentsNotifyCmd() *cobra.Command {
	var clock, channel, recipient, reference string
	return a.incidentChangeCmd("notify ID --clock CLOCK --channel CH --recipient WHO", "Record a notification sent; its clock is done",
		"  fifthwheel incidents notify inc-0195... --clock customer --channel email --recipient ops@acme.example --reference T-1 --data ./fw-data", never,
		func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.StringVar(&clock, "clock", "", "the `CLOCK`: internal, customer, regulator_early_warning, regulator")
			fs.StringVar(&channel, "channel", "", "how it was sent (`CHANNEL`: email, phone, portal ...)")
			fs.StringVar(&recipient, "recipient", "", "to whom (`WHO`)")
			fs.StringVar(&reference, "reference", "", "your reference (`REF`: ticket, filing number)")
		},
		func(ctx context.Context, m *incident.Manager, id string, by principal.Principal) (string, error) {
			err := m.Notify(ctx, id, by, incident.Notification{Clock: store.IncidentClockKind(clock), Channel: channel, Recipient: recipient, Reference: reference})
			return fmt.Sprintf("%s: %s notification recorded", id, clock), err
		})
}

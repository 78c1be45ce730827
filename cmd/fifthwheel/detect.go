package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

func (a *app) detectCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "detect",
		Short: "Check, list and backtest the detection rules",
		Long: `The detection engine watches the security events for patterns (rules) and
turns them into findings for incidents and SIEMs (docs/DETECTION.md). The
rules are YAML: the shipped set, or detect.rules_file of the configuration.
A running gateway reloads the file on SIGHUP and when it changes.`,
	})
	rules := group(&cobra.Command{Use: "rules", Short: "Check and list detection rules"})
	rules.AddCommand(a.detectRulesCheckCmd(), a.detectRulesListCmd())
	cmd.AddCommand(rules, a.detectBacktestCmd())
	return cmd
}

func (a *app) detectRulesCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a rules file and print every error with its line and path",
		Long: `Validate a rules file as the gateway does before putting it in force.

Prints "ok" with the number of rules and the file's SHA-256, and exits 0, for a
good file. Otherwise prints every error as FILE:LINE: PATH: MESSAGE and exits 1.`,
		Example: `  fifthwheel detect rules check /etc/fifthwheel/rules.yaml`,
		Args:    exactArgs(1, "one FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			set, err := detect.LoadRules(args[0])
			var es detect.RuleErrors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(a.stdout, e.Error())
				}
				return fmt.Errorf("%s: %d error(s); a running gateway would refuse it and keep its rules", args[0], len(es))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "ok: %d rules, sha256 %s\n", len(set.Rules), set.Hash)
			return nil
		},
	}
}

// ruleJSON is a rule as `detect rules list -o json` prints it.
type ruleJSON struct {
	ID          string            `json:"id"`
	Description string            `json:"description"`
	Severity    string            `json:"severity"`
	Safety      bool              `json:"safety"`
	Codes       []string          `json:"codes,omitempty"`
	Class       string            `json:"class,omitempty"`
	Verdict     string            `json:"verdict,omitempty"`
	Attrs       map[string]string `json:"attrs,omitempty"`
	ExceptAttrs map[string]string `json:"except_attrs,omitempty"`
	GroupBy     string            `json:"group_by"`
	Window      string            `json:"window"`
	Threshold   int64             `json:"threshold"`
	Runbook     string            `json:"runbook"`
}

func (a *app) detectRulesListCmd() *cobra.Command {
	var (
		f      stateFlags
		rules  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the detection rules in force",
		Long: `List the rules a gateway with this configuration runs: --rules FILE, else
detect.rules_file of the configuration, else the shipped rules.`,
		Example: `  fifthwheel detect rules list
  fifthwheel detect rules list --config /etc/fifthwheel/gateway.yaml -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &usageError{err: fmt.Errorf("-o %q: table or json", output)}
			}
			path := rules
			if path == "" {
				cfg, _, err := a.loadConfig(cmd, &f)
				if err != nil {
					return err
				}
				path = cfg.DetectRulesPath()
			}
			set, err := detect.LoadRules(path)
			if err != nil {
				return err
			}
			if output == "json" {
				out := make([]ruleJSON, len(set.Rules))
				for i, r := range set.Rules {
					out[i] = ruleJSON{ID: r.ID, Description: r.Description, Severity: r.Severity.String(), Safety: r.Safety,
						Codes: r.Match.Codes, Class: r.Match.Class, Verdict: r.Match.Verdict, Attrs: r.Match.Attrs, ExceptAttrs: r.Match.ExceptAttrs,
						GroupBy: string(r.GroupBy), Window: r.Window.String(), Threshold: r.Threshold, Runbook: r.Runbook}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tSAFETY\tPER\tWINDOW\tTHRESHOLD\tMATCHES")
			for _, r := range set.Rules {
				what := strings.Join(r.Match.Codes, ",")
				if r.Match.Class != "" {
					what = strings.TrimPrefix(what+",class="+r.Match.Class, ",")
				}
				for _, k := range slices.Sorted(maps.Keys(r.Match.Attrs)) {
					what += "," + k + "=" + r.Match.Attrs[k]
				}
				for _, k := range slices.Sorted(maps.Keys(r.Match.ExceptAttrs)) {
					what += "," + k + "!=" + r.Match.ExceptAttrs[k]
				}
				safety := ""
				if r.Safety {
					safety = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\n", r.ID, r.Severity, safety, r.GroupBy, r.Window, r.Threshold, what)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d rules from %s, sha256 %s\n", len(set.Rules), set.Source, set.Hash)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.config, "config", "", "read detect.rules_file from the YAML `FILE`")
	fs.StringVar(&f.data, "data", "", "the data `DIR` a relative detect.rules_file is under")
	fs.StringVar(&rules, "rules", "", "list the rules of this `FILE` instead")
	fs.StringVarP(&output, "output", "o", "table", "output `FORMAT`: table or json")
	return cmd
}

// backtestJSON is `detect backtest -o json`.
type backtestJSON struct {
	Rules        string           `json:"rules"` // where the rules came from
	RulesSHA256  string           `json:"rules_sha256"`
	From         int64            `json:"from"` // events after this stream position ...
	To           int64            `json:"to"`   // ... up to this one, the head when it started
	Evaluated    int64            `json:"events_evaluated"`
	ElapsedS     float64          `json:"elapsed_s"`
	ReadingS     float64          `json:"reading_s"` // of elapsed_s, waiting for the store
	EventsPerS   float64          `json:"events_per_s"`
	EnginePerS   float64          `json:"engine_events_per_s"` // events / (elapsed − reading)
	FindingsRule map[string]int64 `json:"findings_by_rule"`
	Findings     []findingJSON    `json:"findings"`
	Truncated    bool             `json:"findings_truncated,omitempty"`
}

type findingJSON struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`
	Title       string    `json:"title"`
	Severity    string    `json:"severity"`
	Safety      bool      `json:"safety"`
	SubjectKind string    `json:"subject_kind"`
	Subject     string    `json:"subject"`
	FirstAt     time.Time `json:"first_at"`
	At          time.Time `json:"at"`
	Count       int       `json:"count"`
	EventIDs    []string  `json:"event_ids"`
}

func (a *app) detectBacktestCmd() *cobra.Command {
	var (
		f      stateFlags
		rules  string
		since  time.Duration
		from   int64
		output string
	)
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Evaluate the stored events with a rule set, changing nothing",
		Long: `Read the stored security event stream and evaluate it with a rule set, as the
gateway's detection engine would have, without acting on anything: no finding
is reported, no event recorded, no incident opened, no cursor moved. Use it to
see what a new or changed rule would have found, and as the benchmark of the
rule engine (events evaluated per second, from the store, in this process).

The rules are --rules FILE, else detect.rules_file of the configuration, else
the shipped rules. The events are those stored since --since ago (found by a
binary search over the stream by the events' stored times; default 24h), or
those after stream position --from. The windows start empty: a threshold the
events before the start would have helped reach is not reached. The events up
to the stream's head when it starts are read; later ones are not.

Prints the events evaluated, the time taken (and how much of it was waiting
for the store), events/s, and the findings per rule; -o json also lists the
findings (the first 10,000). It reads the store only (on PostgreSQL a read
numbers newly committed events in the stream, as every reader does).`,
		Example: `  fifthwheel detect backtest --data /var/lib/fifthwheel --since 24h
  fifthwheel detect backtest --config /etc/fifthwheel/gateway.yaml --rules new-rules.yaml -o json
  fifthwheel detect backtest --data ./fw-data --from 0`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &usageError{err: fmt.Errorf("-o %q: table or json", output)}
			}
			fromSet, sinceSet := cmd.Flags().Changed("from"), cmd.Flags().Changed("since")
			if fromSet && sinceSet {
				return &usageError{err: errors.New("--since and --from: give one")}
			}
			if fromSet && from < 0 || sinceSet && since <= 0 {
				return &usageError{err: errors.New("--from must be 0 or more, --since more than 0")}
			}
			e, err := a.openState(cmd, &f, false)
			if err != nil {
				return err
			}
			// Only the store is closed: e.close would also bring the
			// events file up to date, and a backtest changes nothing.
			defer func() {
				if err := e.st.Close(); err != nil {
					e.log.Error("closing the store failed", slog.Any("err", err))
				}
			}()
			path := rules
			if path == "" {
				path = e.cfg.DetectRulesPath()
			}
			set, err := detect.LoadRules(path)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			start := store.StreamPos(from)
			if !fromSet {
				if start, err = detect.StreamPosAt(ctx, e.st, time.Now().Add(-since)); err != nil {
					return err
				}
			}
			res, err := detect.Backtest(ctx, e.st, set, start)
			if err != nil {
				return err
			}
			return writeBacktest(a, output, set, res)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.StringVar(&rules, "rules", "", "evaluate the rules of this `FILE` (default: detect.rules_file, else the shipped rules)")
	fs.DurationVar(&since, "since", 24*time.Hour, "evaluate the events stored in the last `D`")
	fs.Int64Var(&from, "from", 0, "evaluate the events after stream position `POS` instead")
	fs.StringVarP(&output, "output", "o", "table", "output `FORMAT`: table or json")
	return cmd
}

func writeBacktest(a *app, output string, set *detect.RuleSet, res detect.BacktestResult) error {
	perS := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(res.Evaluated) / d.Seconds()
	}
	engine := res.Elapsed - res.Reading
	if output == "json" {
		out := backtestJSON{Rules: set.Source, RulesSHA256: set.Hash, From: int64(res.From), To: int64(res.To),
			Evaluated: res.Evaluated, ElapsedS: res.Elapsed.Seconds(), ReadingS: res.Reading.Seconds(),
			EventsPerS: perS(res.Elapsed), EnginePerS: perS(engine), FindingsRule: res.ByRule,
			Findings: make([]findingJSON, 0, len(res.Findings)), Truncated: res.Truncated}
		for _, f := range res.Findings {
			out.Findings = append(out.Findings, findingJSON{ID: f.ID, Rule: f.RuleID, Title: f.Title, Severity: f.Severity.String(),
				Safety: f.Safety, SubjectKind: f.SubjectKind, Subject: f.Subject, FirstAt: f.FirstAt, At: f.At, Count: f.Count,
				EventIDs: f.EventIDs})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "rules\t%d from %s, sha256 %s\n", len(set.Rules), set.Source, set.Hash)
	fmt.Fprintf(tw, "events evaluated\t%d (stream positions %d to %d)\n", res.Evaluated, res.From+1, res.To)
	fmt.Fprintf(tw, "elapsed\t%.3f s, of which reading the store %.3f s\n", res.Elapsed.Seconds(), res.Reading.Seconds())
	fmt.Fprintf(tw, "events/s\t%.0f (the engine alone: %.0f)\n", perS(res.Elapsed), perS(engine))
	var total int64
	for _, n := range res.ByRule {
		total += n
	}
	fmt.Fprintf(tw, "findings\t%d\n", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRULE\tFINDINGS")
	for _, id := range slices.Sorted(maps.Keys(res.ByRule)) {
		fmt.Fprintf(tw, "%s\t%d\n", id, res.ByRule[id])
	}
	return tw.Flush()
}

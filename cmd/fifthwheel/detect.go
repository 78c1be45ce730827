package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/detect"
)

func (a *app) detectCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "detect",
		Short: "Check and list the detection rules",
		Long: `The detection engine watches the security events for patterns (rules) and
turns them into findings for incidents and SIEMs (docs/DETECTION.md). The
rules are YAML: the shipped set, or detect.rules_file of the configuration.
A running gateway reloads the file on SIGHUP and when it changes.`,
	})
	rules := group(&cobra.Command{Use: "rules", Short: "Check and list detection rules"})
	rules.AddCommand(a.detectRulesCheckCmd(), a.detectRulesListCmd())
	cmd.AddCommand(rules)
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

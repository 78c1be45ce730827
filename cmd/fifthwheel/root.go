package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "fifthwheel",
		Short: "Security gateway between a TMS and autonomous trucks",
		Long: `fifthwheel couples a Transportation Management System (TMS) to a fleet of
autonomous trucks. Every tender, route update and dispatch instruction passes
through it on the way to a truck; every telemetry frame and heartbeat passes
through it on the way back. It trusts endpoints, not networks: identity comes
from certificates, every frame and command is signed and sequenced, loss of
contact is detected within seconds, and every decision is recorded as a
security event.

State lives in a data directory (embedded SQLite, --data DIR) or in
PostgreSQL (--store URL). Settings come from a YAML file (--config FILE),
then FIFTHWHEEL_* environment variables, then flags.`,
		Example: `  # Try it locally: no configuration file, state in ./fw-data
  fifthwheel serve --dev --data ./fw-data

  # Check a configuration file before deploying it
  fifthwheel config check /etc/fifthwheel/gateway.yaml

  # Create or upgrade the database schema
  fifthwheel store migrate --data /var/lib/fifthwheel

  # Issue a vehicle certificate from the fleet CA, and revoke it
  fifthwheel pki issue vehicle truck-0042 --out ./truck-0042 --data ./fw-data
  fifthwheel pki revoke --vehicle truck-0042 --reason key_compromise --data ./fw-data`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	group(root)
	root.SetFlagErrorFunc(flagError)
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(
		a.versionCmd(),
		a.serveCmd(),
		a.configCmd(),
		a.storeCmd(),
		a.pkiCmd(),
		a.vehicleCmd(),
		a.clientCmd(),
		a.operatorCmd(),
		a.simCmd(),
		a.gatewayCmd(),
		a.tokenCmd(),
		a.drillCmd(),
		a.auditCmd(),
		a.demoCmd(),
		a.forensicsCmd(),
		a.retentionCmd(),
		a.detectCmd(),
		a.incidentsCmd(),
		a.siemCmd(),
	)
	return root
}

// group makes cmd a command group: run bare, it prints its help; given an
// unknown subcommand, it fails with a usage error that suggests the closest
// one (cobra alone treats both as success on nested groups).
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor alone does not apply
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return &usageError{err: fmt.Errorf("%s", msg), hint: "see '" + c.CommandPath() + " --help'"}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// flagError turns cobra's flag parsing errors into usage errors.
func flagError(c *cobra.Command, err error) error {
	return &usageError{err: err, hint: "see '" + c.CommandPath() + " --help'"}
}

// exactArgs is cobra.ExactArgs with a usage error that names the arguments.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{
				err:  fmt.Errorf("%s takes %s, got %d argument(s)", c.CommandPath(), what, len(args)),
				hint: "see '" + c.CommandPath() + " --help'",
			}
		}
		return nil
	}
}

// noArgs refuses positional arguments with a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{
			err:  fmt.Errorf("%s takes no arguments, got %q", c.CommandPath(), args[0]),
			hint: "see '" + c.CommandPath() + " --help'",
		}
	}
	return nil
}

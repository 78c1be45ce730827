package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/config"
)

func (a *app) configCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "config",
		Short: "Check and print gateway configuration",
		Long: `Check and print gateway configuration.

A configuration is one YAML file. Unknown keys, duplicate keys and values of
the wrong type are errors, reported with their path and line. Every setting
can be overridden by an environment variable named FIFTHWHEEL_ followed by its
path in upper case with dots replaced by underscores (heartbeat.interval is
FIFTHWHEEL_HEARTBEAT_INTERVAL), and some by flags; flags win over variables,
variables over the file, the file over the built-in defaults.`,
	})
	cmd.AddCommand(a.configCheckCmd(), a.configPrintCmd())
	return cmd
}

func (a *app) configCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file and list every error with its path",
		Long: `Check a configuration file: its syntax, its keys and every value.

Prints "ok" and exits 0 for a good file. Otherwise prints every error as
FILE:LINE: PATH: MESSAGE and exits 2. The file is checked on its own, over the
defaults: FIFTHWHEEL_* variables and flags are not applied ('fifthwheel config
print' shows the effective configuration).`,
		Example: `  fifthwheel config check /etc/fifthwheel/gateway.yaml`,
		Args:    exactArgs(1, "one FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			file := args[0]
			cfg, src, err := config.Load(file)
			var errs config.Errors
			if err != nil && !errors.As(err, &errs) {
				return &usageError{err: err} // unreadable file
			}
			// Report what the file's values get wrong too, except where the
			// value could not even be read.
			bad := map[string]bool{}
			for _, e := range errs {
				bad[e.Path] = true
			}
			var verrs config.Errors
			if errors.As(cfg.Validate(), &verrs) {
				for _, e := range verrs.Locate(src) {
					if bad[e.Path] {
						continue
					}
					if e.Source == "" {
						e.Source = file
					}
					errs = append(errs, e)
				}
			}
			if len(errs) > 0 {
				return &usageError{err: errs}
			}
			fmt.Fprintln(a.stdout, "ok")
			return nil
		},
	}
}

func (a *app) configPrintCmd() *cobra.Command {
	f := stateFlags{}
	cmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration as YAML",
		Long: `Print the effective configuration as YAML: the defaults, overridden by
--config FILE, then FIFTHWHEEL_* variables, then flags. The password of a
store URL is masked. If the result is invalid, it is printed anyway, the
errors follow on stderr and the exit code is 2.`,
		Example: `  fifthwheel config print --config gateway.yaml
  FIFTHWHEEL_HEARTBEAT_INTERVAL=2s fifthwheel config print --data ./fw-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := a.loadConfig(cmd, &f)
			if err != nil {
				return err
			}
			out, err := cfg.Marshal()
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, "# Effective fifthwheel configuration (defaults < --config < FIFTHWHEEL_* < flags).\n")
			_, _ = a.stdout.Write(out)
			return validate(cfg, src, false, "default")
		},
	}
	f.register(cmd.Flags())
	return cmd
}

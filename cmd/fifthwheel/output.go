package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// outputFlag is `-o text|json` of a command that lists or shows records:
// text for people (tables), json for scripts: one indented document whose
// members are stable (an API's shape where there is one).
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "print `FORMAT`: text or json")
}

func (o *outputFlag) check() error {
	if o.format != "text" && o.format != "json" {
		return &usageError{err: fmt.Errorf("-o %q: want text or json", o.format)}
	}
	return nil
}

func (o *outputFlag) json() bool { return o.format == "json" }

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// outputFlag is -o/--output on every list command: "table" (the default,
// for people) or "json" (for scripts: one JSON array of objects, [] when
// there are none, with the field names of each command's row type; they
// are stable, fields may be added).
type outputFlag struct{ format string }

func (o *outputFlag) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "output", "o", "table", "output `format`: table or json")
}

// check refuses a format other than table or json.
func (o outputFlag) check() error {
	switch o.format {
	case "table", "json":
		return nil
	}
	return &usageError{err: fmt.Errorf("-o %q: want table or json", o.format)}
}

// printList writes rows as a JSON array with -o json, or else as a table
// of header and each row's cells.
func printList[T any](w io.Writer, o outputFlag, rows []T, header []string, cells func(T) []string) error {
	if o.format == "json" {
		if rows == nil {
			rows = []T{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
	}
	return tw.Flush()
}

// timeOrDash is t in RFC 3339, or "-" when absent.
func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// json reports -o json.
func (o outputFlag) json() bool { return o.format == "json" }

// printJSON writes v as one indented JSON document (a command whose API
// answers with a document, such as incidents list and show, prints that
// shape).
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

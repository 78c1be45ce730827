package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryListCommandTakesOutputJSON: every list command of the CLI has
// -o/--output (issue 22: "-o json on every list command"); a list command
// added without it fails here.
func TestEveryListCommandTakesOutputJSON(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() == "list" {
			n++
			fl := c.Flags().Lookup("output")
			if fl == nil || fl.Shorthand != "o" {
				t.Errorf("%q has no -o/--output flag", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCmd())
	if n < 7 {
		t.Fatalf("found %d list commands; the walk is broken", n)
	}
}

// TestPrintList: JSON is an array ([] for none) of the row objects; the
// table has the header and one line per row.
func TestPrintList(t *testing.T) {
	type row struct {
		ID string `json:"id"`
	}
	cells := func(r row) []string { return []string{r.ID} }
	var b bytes.Buffer
	if err := printList(&b, outputFlag{"json"}, []row(nil), []string{"ID"}, cells); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Fatalf("no rows as JSON: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := printList(&b, outputFlag{"json"}, []row{{"a"}, {"b"}}, []string{"ID"}, cells); err != nil {
		t.Fatal(err)
	}
	var got []row
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got) != 2 || got[1].ID != "b" {
		t.Fatalf("JSON rows: %q → %v, %v", b.String(), got, err)
	}
	b.Reset()
	if err := printList(&b, outputFlag{"table"}, []row{{"a"}}, []string{"ID"}, cells); err != nil || b.String() != "ID\na\n" {
		t.Fatalf("table: %q, %v", b.String(), err)
	}
	if err := (outputFlag{"yaml"}).check(); err == nil {
		t.Fatal("-o yaml accepted")
	}
}

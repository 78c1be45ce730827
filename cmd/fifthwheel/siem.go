package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

func (a *app) siemCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "siem",
		Short: "The SIEM sinks: dead letters",
		Long: `The SIEM sinks (the events file, syslog, the SIEM webhook, NATS) tail the
store's event stream; serve runs them (docs/SIEM.md). A batch the SIEM
webhook gave up after siem.webhook.max_attempts or max_age is a dead letter:
kept in the store with the exact body that was sent.`,
	})
	dl := group(&cobra.Command{Use: "dead-letters", Short: "Batches the SIEM webhook gave up"})
	dl.AddCommand(a.siemDeadLettersListCmd())
	cmd.AddCommand(dl)
	return cmd
}

// deadLetterJSON is one dead letter as `-o json` prints it.
type deadLetterJSON struct {
	ID         int64           `json:"id"`
	Sink       string          `json:"sink"`
	FromPos    int64           `json:"from_pos"`
	ToPos      int64           `json:"to_pos"`
	FirstEvent string          `json:"first_event"`
	LastEvent  string          `json:"last_event"`
	Count      int             `json:"count"`
	Attempts   int             `json:"attempts"`
	LastError  string          `json:"last_error"`
	CreatedAt  time.Time       `json:"created_at"`
	Body       json.RawMessage `json:"body,omitempty"`
}

func (a *app) siemDeadLettersListCmd() *cobra.Command {
	var (
		f      stateFlags
		sink   string
		after  int64
		limit  int
		output string
		body   bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the SIEM dead letters, oldest first",
		Example: `  fifthwheel siem dead-letters list --data ./fw-data
  fifthwheel siem dead-letters list --data ./fw-data -o json --body   # with the bodies, to replay by hand`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &usageError{err: errors.New("-o must be table or json")}
			}
			return a.withState(cmd, &f, nil, func(ctx context.Context, e *stateEnv, _ principal.Principal) error {
				ds, err := e.st.SIEMDeadLetters(ctx, sink, after, limit)
				if err != nil {
					return err
				}
				if output == "json" {
					out := make([]deadLetterJSON, len(ds))
					for i, d := range ds {
						out[i] = deadLetterJSON{ID: d.ID, Sink: d.Sink, FromPos: int64(d.FromPos), ToPos: int64(d.ToPos),
							FirstEvent: d.FirstEvent, LastEvent: d.LastEvent, Count: d.Count, Attempts: d.Attempts,
							LastError: d.LastError, CreatedAt: d.CreatedAt}
						if body && json.Valid(d.Body) {
							out[i].Body = d.Body
						}
					}
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(out)
				}
				return printDeadLetters(a, ds)
			})
		},
	}
	f.register(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&sink, "sink", "", "only this sink's (e.g. sink:webhook)")
	fs.Int64Var(&after, "after", 0, "only dead letters with an id after `ID` (paging)")
	fs.IntVar(&limit, "limit", 0, fmt.Sprintf("at most `N` (default %d, at most %d)", store.DefaultPage, store.MaxPage))
	fs.StringVarP(&output, "output", "o", "table", "output `FORMAT`: table or json")
	fs.BoolVar(&body, "body", false, "with -o json: include each batch's body as sent")
	return cmd
}

func printDeadLetters(a *app, ds []store.SIEMDeadLetter) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSINK\tEVENTS\tFIRST\tLAST\tATTEMPTS\tCREATED\tLAST ERROR")
	for _, d := range ds {
		msg := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, d.LastError)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Sink, d.Count, d.FirstEvent, d.LastEvent, d.Attempts,
			d.CreatedAt.Format(time.RFC3339), msg)
	}
	return tw.Flush()
}

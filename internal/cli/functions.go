package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/observe"
)

func newLs(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List deployed functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			fns, err := c.Functions(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(env.Stdout, fns)
			}
			if len(fns) == 0 {
				fmt.Fprintln(env.Stdout, "no functions deployed; try 'gureum deploy PROJECT_DIR'")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tRUNTIME\tMEMORY\tTIMEOUT\tCONCURRENCY\tPROVISIONED\tINSTANCES\tSNAPSHOT\tROUTES")
			for _, f := range fns {
				routes := make([]string, len(f.Routes))
				for i, r := range f.Routes {
					routes[i] = r.Method + " " + r.Path
				}
				conc := "default"
				if f.Concurrency > 0 {
					conc = fmt.Sprint(f.Concurrency)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d MiB\t%s\t%s\t%d\t%d idle, %d busy\t%s\t%s\n",
					f.Name, f.Latest, f.Runtime, f.MemoryMiB, f.Timeout, conc, f.Provisioned,
					f.Instances.Idle, f.Instances.Busy, snapshotCell(f.Snapshot), strings.Join(routes, ", "))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd, env)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// snapshotReasonWidth bounds the reason a failed snapshot shows in a table
// cell; ls -o json has it whole.
const snapshotReasonWidth = 40

// snapshotCell is a function's snapshot state for a table: the state, a
// failure's reason on one line and shortened, or "-" when the node has
// not reported one (it has not started the function yet).
func snapshotCell(s *admin.SnapshotInfo) string {
	switch {
	case s == nil || s.State == "":
		return "-"
	case s.Reason != "":
		return s.State + ": " + oneLine(s.Reason, snapshotReasonWidth)
	}
	return s.State
}

func newRm(env IO) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "rm FUNCTION...",
		Short: "Remove functions and all their versions",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := c.DeleteFunction(cmd.Context(), name); err != nil {
					return fmt.Errorf("remove %s: %w", name, err)
				}
				fmt.Fprintf(env.Stdout, "removed %s\n", name)
			}
			return nil
		},
	}
	cf.register(cmd, env)
	return cmd
}

func newVersions(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "versions FUNCTION",
		Short: "List a function's immutable versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			info, err := c.Function(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			vs, err := c.Versions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(env.Stdout, vs)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tCREATED\tARTIFACT\tMEMORY\tTIMEOUT\tPOINTERS")
			for _, v := range vs {
				var ptrs []string
				if v.Number == info.Latest {
					ptrs = append(ptrs, "$LATEST")
				}
				for a, n := range info.Aliases {
					if n == v.Number {
						ptrs = append(ptrs, a)
					}
				}
				hash := v.Config.ArtifactHash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d MiB\t%s\t%s\n", v.Number, v.CreatedAt.Local().Format(time.DateTime),
					hash, v.Config.MemoryMiB, time.Duration(v.Config.Timeout), strings.Join(ptrs, ", "))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd, env)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newInvoke(env IO) *cobra.Command {
	var cf clientFlags
	var data, file, qualifier string
	var verbose, withLog, async bool
	cmd := &cobra.Command{
		Use:   "invoke FUNCTION",
		Short: "Invoke a function and print its result",
		Long: `Invoke a function with a JSON event (--data, --file, or '-' for standard input;
{} when none is given) and print its result. The exit code is 0 on success and 1
when the function failed (returned an error, crashed or timed out).

With --async the event is queued durably and only its request id is printed; the
function runs soon after, with retries, and events that fail every retry land
in its dead-letter queue (see 'gureum dlq ls').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload := []byte("{}")
			switch {
			case data != "" && file != "":
				return errors.New("give the event with --data or --file, not both")
			case data != "":
				payload = []byte(data)
			case file == "-":
				b, err := io.ReadAll(env.Stdin)
				if err != nil {
					return err
				}
				payload = b
			case file != "":
				b, err := os.ReadFile(env.resolve(file))
				if err != nil {
					return err
				}
				payload = b
			}
			if !json.Valid(payload) {
				return errors.New("the event is not valid JSON; e.g. --data '{\"name\":\"world\"}'")
			}
			if async && (withLog || verbose) {
				return errors.New("--log and --verbose need a synchronous invocation; drop --async, or see 'gureum logs FUNCTION --request ID' later")
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			if async {
				id, err := c.InvokeAsync(cmd.Context(), args[0], qualifier, payload)
				if err != nil {
					return explain(err)
				}
				fmt.Fprintln(env.Stdout, id)
				return nil
			}
			res, err := c.Invoke(cmd.Context(), args[0], qualifier, payload, withLog)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s\n", res.Payload)
			if withLog && res.Log != "" {
				fmt.Fprint(env.Stderr, res.Log)
			}
			if verbose {
				temp := "warm"
				if res.Cold {
					temp = fmt.Sprintf("cold, init %s", res.InitDuration)
				}
				fmt.Fprintf(env.Stderr, "request %s  version %s  %s  %s\n", res.RequestID, res.Version, res.Duration, temp)
			}
			if res.FunctionError != "" {
				return &ExitError{Code: 1, Err: fmt.Errorf("function %s failed (%s); request id %s; see 'gureum logs %s --request %s'",
					args[0], res.FunctionError, res.RequestID, args[0], res.RequestID)}
			}
			return nil
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVarP(&data, "data", "d", "", "the event, as JSON")
	f.StringVarP(&file, "file", "f", "", "read the event from this file ('-' for standard input)")
	f.StringVarP(&qualifier, "qualifier", "q", "", "version number or alias (default $LATEST)")
	f.BoolVarP(&verbose, "verbose", "v", false, "print the request id, version, duration and cold/warm to stderr")
	f.BoolVar(&withLog, "log", false, "print the invocation's log to stderr")
	f.BoolVar(&async, "async", false, "queue the event for an asynchronous invocation and print its request id")
	return cmd
}

func newLogs(env IO) *cobra.Command {
	var cf clientFlags
	var q apiclient.LogQuery
	var output string
	cmd := &cobra.Command{
		Use:   "logs FUNCTION",
		Short: "Print a function's recent log lines, each tagged with its request id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(env.Stdout)
			print := func(e observe.Entry) error {
				if output == "json" {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintf(env.Stdout, "%s  %s  %s\n", e.Time.Local().Format("2006-01-02T15:04:05.000"), e.RequestID, e.Message)
				return err
			}
			if !q.Follow {
				return c.Logs(cmd.Context(), args[0], q, print)
			}
			return followLogs(cmd.Context(), env, c, args[0], q, print)
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVar(&q.Since, "since", "", "only lines newer than this: a duration (10m) or an RFC 3339 time (default 1h)")
	f.StringVar(&q.RequestID, "request", "", "only the lines of this request id")
	f.IntVar(&q.Limit, "limit", 0, "at most this many of the most recent lines (default 1000)")
	f.BoolVarP(&q.Follow, "follow", "f", false, "keep printing new lines as they come")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// followLogs follows a function's log and keeps following across restarts
// of the node: when the stream ends or the node cannot be reached, it
// reconnects once a second and resumes after the last line it printed.
// Errors the node answers with (an unknown function, a wrong token) end it.
func followLogs(ctx context.Context, env IO, c *apiclient.Client, fn string, q apiclient.LogQuery, print func(observe.Entry) error) error {
	var last time.Time
	seen := make(map[string]bool) // lines printed at exactly last
	away := false
	for {
		err := c.Logs(ctx, fn, q, func(e observe.Entry) error {
			key := e.RequestID + "\x00" + e.Message
			switch {
			case e.Time.Before(last), e.Time.Equal(last) && seen[key]:
				return nil // printed before the reconnect
			case e.Time.After(last):
				last = e.Time
				clear(seen)
			}
			seen[key] = true
			if away {
				fmt.Fprintln(env.Stderr, "gureum: following again")
				away = false
			}
			return print(e)
		})
		if ctx.Err() != nil {
			return nil
		}
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) {
			return err
		}
		if !away {
			fmt.Fprintln(env.Stderr, "gureum: the node went away; following again when it is back")
			away = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if !last.IsZero() {
			q.Since = last.Format(time.RFC3339Nano)
		}
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

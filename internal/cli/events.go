package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

// This file holds what the queue, topic, schedule and dlq commands share.

// withClient makes a command's RunE that connects to the node with cf's
// flags and then runs run.
func withClient(env IO, cf *clientFlags, run func(cmd *cobra.Command, c *apiclient.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		return run(cmd, c, args)
	}
}

// outputFlag registers -o/--output with def (the default) and json as its
// formats.
func outputFlag(cmd *cobra.Command, output *string, def string) {
	cmd.Flags().StringVarP(output, "output", "o", def, "output format: "+def+" or json")
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// listCmd describes an ls command: a list fetched from the node and printed
// as a table, or as JSON with -o json.
type listCmd[T any] struct {
	short  string
	fetch  func(*apiclient.Client, context.Context) ([]T, error)
	empty  string                                   // printed instead of an empty table
	header string                                   // the table's header, tab-separated
	row    func(w io.Writer, item T, now time.Time) // writes one row of the table
}

func (l listCmd[T]) command(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: l.short,
		Args:  cobra.NoArgs,
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			items, err := l.fetch(c, cmd.Context())
			if err != nil {
				return explain(err)
			}
			if output == "json" {
				return printJSON(env.Stdout, items)
			}
			if len(items) == 0 {
				fmt.Fprintln(env.Stdout, l.empty)
				return nil
			}
			now := time.Now()
			tw := newTable(env.Stdout)
			fmt.Fprintln(tw, l.header)
			for _, it := range items {
				l.row(tw, it, now)
			}
			return tw.Flush()
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "table")
	return cmd
}

// newPurgeCmd builds a command that deletes every message of the queue
// named by its argument with purge; use is its usage line.
func newPurgeCmd(env IO, use, short string, purge func(*apiclient.Client, context.Context, string) (int, error)) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			n, err := purge(c, cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("purge %s: %w", args[0], explain(err))
			}
			fmt.Fprintf(env.Stdout, "purged %d messages from %s\n", n, args[0])
			return nil
		}),
	}
	cf.register(cmd, env)
	return cmd
}

// newRmCmd builds a command that removes each kind (queue, topic) named by
// its arguments with remove, stopping at the first that fails.
func newRmCmd(env IO, kind, short string, remove func(*apiclient.Client, context.Context, string) error) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			for _, name := range args {
				if err := remove(c, cmd.Context(), name); err != nil {
					return fmt.Errorf("remove %s %s: %w", kind, name, explain(err))
				}
				fmt.Fprintf(env.Stdout, "removed %s %s\n", kind, name)
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	return cmd
}

// messageFlags are the flags of a command that sends one message: where its
// body is read from and its attributes.
type messageFlags struct {
	file     string
	strAttrs []string
	numAttrs []string
}

// register adds --file, --attr and --number-attr to cmd; what names the
// body in --file's help ("body", "message").
func (m *messageFlags) register(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringVarP(&m.file, "file", "f", "", "read the "+what+" from this file ('-' for standard input)")
	f.StringArrayVar(&m.strAttrs, "attr", nil, "a string attribute NAME=VALUE (repeatable)")
	f.StringArrayVar(&m.numAttrs, "number-attr", nil, "a number attribute NAME=NUMBER (repeatable)")
}

// body reads the message given by args (what follows the command's NAME)
// or --file.
func (m *messageFlags) body(env IO, args []string) (string, error) {
	return readMessage(env, args, m.file)
}

// attributes builds the message attributes of --attr and --number-attr.
func (m *messageFlags) attributes() (map[string]admin.MessageAttribute, error) {
	return messageAttributes(m.strAttrs, m.numAttrs)
}

// readMessage returns a message body given as the argument after the
// command's NAME, with --file, or read from standard input ('-' as either).
func readMessage(env IO, args []string, file string) (string, error) {
	arg, hasArg := "", len(args) > 0
	if hasArg {
		arg = args[0]
	}
	var data []byte
	var err error
	switch {
	case hasArg && file != "":
		return "", errors.New("give the message as an argument or with --file, not both")
	case arg == "-" || file == "-":
		data, err = io.ReadAll(env.Stdin)
	case file != "":
		data, err = os.ReadFile(env.resolve(file))
	case hasArg:
		return arg, nil
	default:
		return "", errors.New("no message: give it as an argument, with --file FILE, or '-' to read standard input")
	}
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// messageAttributes builds message attributes from --attr k=v (String) and
// --number-attr k=n (Number) flags.
func messageAttributes(strs, nums []string) (map[string]admin.MessageAttribute, error) {
	if len(strs)+len(nums) == 0 {
		return nil, nil
	}
	attrs := make(map[string]admin.MessageAttribute, len(strs)+len(nums))
	add := func(flag, kv, dataType string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--%s %q: want NAME=VALUE", flag, kv)
		}
		if _, dup := attrs[k]; dup {
			return fmt.Errorf("--%s %q: attribute %s is given twice", flag, kv, k)
		}
		if dataType == "Number" {
			if n, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return fmt.Errorf("--%s %q: %q is not a number", flag, kv, v)
			}
		}
		attrs[k] = admin.MessageAttribute{DataType: dataType, StringValue: v}
		return nil
	}
	for _, kv := range strs {
		if err := add("attr", kv, "String"); err != nil {
			return nil, err
		}
	}
	for _, kv := range nums {
		if err := add("number-attr", kv, "Number"); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

// formatAttributes prints attributes as k=v, sorted by name.
func formatAttributes(attrs map[string]admin.MessageAttribute) string {
	keys := slices.Sorted(maps.Keys(attrs))
	parts := make([]string, len(keys))
	for i, k := range keys {
		a := attrs[k]
		v := a.StringValue
		if v == "" && len(a.BinaryValue) > 0 {
			v = fmt.Sprintf("<%d bytes>", len(a.BinaryValue))
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// wholeSeconds turns a duration flag into whole seconds from 0 to max.
func wholeSeconds(flag string, d time.Duration, max int) (int, error) {
	if d < 0 || d%time.Second != 0 || d > time.Duration(max)*time.Second {
		return 0, fmt.Errorf("--%s %s: want whole seconds from 0s to %s", flag, d, time.Duration(max)*time.Second)
	}
	return int(d / time.Second), nil
}

// notFoundKinds names, for each "no such NAME" code of the admin API, the
// kind whose ls command lists what there is.
var notFoundKinds = map[string]string{
	admin.CodeQueueNotFound:  "queue",
	admin.CodeTopicNotFound:  "topic",
	admin.CodeTableNotFound:  "table",
	admin.CodeBucketNotFound: "bucket",
}

// explain adds to an API error of the event endpoints what the user can do
// about it.
func explain(err error) error {
	return explainAs(err, "queues, topics and schedules")
}

// explainStorage is explain for the tables and buckets endpoints.
func explainStorage(err error) error {
	return explainAs(err, "tables and buckets")
}

// explainAs adds to an API error what the user can do about it; feature
// names what an older node would not serve.
func explainAs(err error, feature string) error {
	var e *apiclient.Error
	if !errors.As(err, &e) {
		return err
	}
	if kind, ok := notFoundKinds[e.Code]; ok {
		return fmt.Errorf("%w; see 'gureum %s ls' for the %ss there are", err, kind, kind)
	}
	if isMissingEndpoint(err) {
		return fmt.Errorf("%w; the node does not serve %s yet: is it an older gureum?", err, feature)
	}
	return err
}

// when formats t in local time with how far it is from now: "2024-05-01
// 12:00:00 (in 4m)"; "-" for the zero time.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	rel := "now"
	switch {
	case d >= time.Second:
		rel = "in " + roughly(d)
	case d <= -time.Second:
		rel = roughly(-d) + " ago"
	}
	return t.Local().Format(time.DateTime) + " (" + rel + ")"
}

// roughly formats a positive duration in its largest unit: 12s, 4m, 5h, 3d.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// ageSeconds formats an age given in seconds; "-" when there is none.
func ageSeconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	return roughly(time.Duration(s * float64(time.Second)))
}

// orDash is s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shortens s to one line of at most n runes for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

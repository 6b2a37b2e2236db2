package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

func newTableCmd(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Create, list and remove KV tables; get, put, delete and scan their items",
		Long: `A table holds JSON values by key, as a DynamoDB table without a schema would:
every put gives the item a new revision, a put or delete can be made conditional on
that revision (or on the key being absent), and an item can expire after a TTL.
Functions reach the tables their manifest grants them; these commands reach every
table.`,
	}
	cmd.AddCommand(
		newTableCreate(env),
		newTableLs(env),
		newTableGet(env),
		newTablePut(env),
		newTableDelete(env),
		newTableScan(env),
		newTableRm(env),
	)
	return cmd
}

func newTableCreate(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a table (nothing changes if it exists)",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			info, created, err := c.PutTable(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("table %s: %w", args[0], explainStorage(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, info)
			}
			if created {
				fmt.Fprintf(env.Stdout, "created table %s\n", info.Name)
			} else {
				fmt.Fprintf(env.Stdout, "table %s exists (%d items)\n", info.Name, info.Items)
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

func newTableLs(env IO) *cobra.Command {
	return listCmd[admin.TableInfo]{
		short: "List tables with their item counts and sizes",
		fetch: func(c *apiclient.Client, ctx context.Context) ([]admin.TableInfo, error) {
			ts, err := c.Tables(ctx)
			return ts, explainStorage(err)
		},
		empty:  "no tables; create one with 'gureum table create NAME'",
		header: "NAME\tITEMS\tBYTES\tAPP\tCREATED",
		row: func(w io.Writer, t admin.TableInfo, now time.Time) {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", t.Name, t.Items, t.Bytes, orDash(t.App), when(t.CreatedAt, now))
		},
	}.command(env)
}

// compactValue is an item's value on one line, as stored; a value that is
// not valid JSON (which a node never answers) is shown as it came.
func compactValue(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

func newTableGet(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "get TABLE KEY",
		Short: "Print an item's value (-o json: the item with its revision and times)",
		Example: `  gureum table get orders o-42
  gureum table get orders o-42 -o json`,
		Args: cobra.ExactArgs(2),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			table, key := args[0], args[1]
			it, err := c.GetItem(cmd.Context(), table, key)
			if err != nil {
				if apiclient.HasCode(err, admin.CodeItemNotFound) {
					err = fmt.Errorf("%w; see 'gureum table scan %s --keys' for its keys", err, table)
				}
				return fmt.Errorf("get %q from %s: %w", key, table, explainStorage(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, it)
			}
			fmt.Fprintln(env.Stdout, compactValue(it.Value))
			return nil
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

// readValue returns an item's value given as the argument after the key,
// with --file, or read from standard input ('-' as either), once it is
// valid JSON.
func readValue(env IO, args []string, file string) (json.RawMessage, error) {
	arg, hasArg := "", len(args) > 0
	if hasArg {
		arg = args[0]
	}
	var data []byte
	var err error
	switch {
	case hasArg && file != "":
		return nil, errors.New("give the value as an argument or with --file, not both")
	case arg == "-" || file == "-":
		data, err = io.ReadAll(env.Stdin)
	case file != "":
		data, err = os.ReadFile(env.resolve(file))
	case hasArg:
		data = []byte(arg)
	default:
		return nil, errors.New("no value: give it as an argument, with --file FILE, or '-' to read standard input")
	}
	if err != nil {
		return nil, fmt.Errorf("read the value: %w", err)
	}
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		return nil, fmt.Errorf(`the value is not JSON (%v); a text value is a JSON string: '"some text"'`, err)
	}
	return json.RawMessage(bytes.TrimSpace(data)), nil
}

func newTablePut(env IO) *cobra.Command {
	var cf clientFlags
	var output, file string
	var ifAbsent bool
	var ifRevision uint64
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "put TABLE KEY [VALUE | -]",
		Short: "Write an item's JSON value and print its new revision",
		Long: `Write an item. The value is JSON, given as an argument, with --file, or read from
standard input ('-'). --if-absent writes only a new key, --if-revision only over
the item at that revision (as 'gureum table get -o json' shows it); otherwise
the put fails with ConditionFailed and nothing changes.`,
		Example: `  gureum table put orders o-42 '{"total": 12.5, "state": "paid"}'
  gureum table put orders o-42 --file order.json --if-revision 7
  gureum table put sessions s-1 '"token"' --ttl 1h --if-absent`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			value, err := readValue(env, args[2:], file)
			if err != nil {
				return err
			}
			req := admin.PutItemRequest{Value: value, IfAbsent: ifAbsent, IfRevision: ifRevision}
			if ifAbsent && ifRevision != 0 {
				return errors.New("give --if-absent or --if-revision, not both")
			}
			if cmd.Flags().Changed("if-revision") && ifRevision == 0 {
				return errors.New("--if-revision 0: revisions start at 1 (--if-absent writes only a new key)")
			}
			if cmd.Flags().Changed("ttl") {
				s, err := wholeSeconds("ttl", ttl, admin.MaxItemTTLSeconds)
				if err != nil {
					return err
				}
				req.TTLSeconds = int64(s)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			table, key := args[0], args[1]
			res, err := c.PutItem(cmd.Context(), table, key, req)
			if err != nil {
				return fmt.Errorf("put %q in %s: %w", key, table, explainCondition(err, table, key))
			}
			if output == "json" {
				return printJSON(env.Stdout, res)
			}
			fmt.Fprintln(env.Stdout, res.Revision)
			return nil
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "read the value from this file ('-' for standard input)")
	f.BoolVar(&ifAbsent, "if-absent", false, "write only if the key does not exist")
	f.Uint64Var(&ifRevision, "if-revision", 0, "write only if the item is at this revision")
	f.DurationVar(&ttl, "ttl", 0, "the item expires this long after the put, in whole seconds (0s: never)")
	outputFlag(cmd, &output, "text")
	return cmd
}

// explainCondition is explainStorage, and for a failed condition says how
// to see where the item is.
func explainCondition(err error, table, key string) error {
	if apiclient.HasCode(err, admin.CodeConditionFailed) {
		return fmt.Errorf("%w; see the item's revision with 'gureum table get %s %s -o json'", err, table, key)
	}
	return explainStorage(err)
}

func newTableDelete(env IO) *cobra.Command {
	var cf clientFlags
	var ifRevision uint64
	cmd := &cobra.Command{
		Use:   "delete TABLE KEY",
		Short: "Delete an item",
		Args:  cobra.ExactArgs(2),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if cmd.Flags().Changed("if-revision") && ifRevision == 0 {
				return errors.New("--if-revision 0: revisions start at 1")
			}
			table, key := args[0], args[1]
			if err := c.DeleteItem(cmd.Context(), table, key, ifRevision); err != nil {
				return fmt.Errorf("delete %q from %s: %w", key, table, explainCondition(err, table, key))
			}
			fmt.Fprintf(env.Stdout, "deleted %s from %s\n", key, table)
			return nil
		}),
	}
	cf.register(cmd, env)
	cmd.Flags().Uint64Var(&ifRevision, "if-revision", 0, "delete only if the item is at this revision")
	return cmd
}

// scanAll reads the items of a table that req selects, page after page,
// until there are no more or it has limit of them (limit 0: no limit). It
// returns them with where a further scan would start ("" when none would).
func scanAll(ctx context.Context, c *apiclient.Client, table string, req admin.ScanRequest, limit int) ([]admin.Item, string, error) {
	var items []admin.Item
	for {
		req.Limit = admin.MaxScanLimit
		if limit > 0 {
			req.Limit = min(req.Limit, limit-len(items))
		}
		page, err := c.ScanItems(ctx, table, req)
		if err != nil {
			return nil, "", err
		}
		items = append(items, page.Items...)
		if limit > 0 && len(items) >= limit {
			if len(items) > limit {
				items = items[:limit]
				return items, items[limit-1].Key, nil
			}
			return items, page.Next, nil
		}
		if page.Next == "" {
			return items, "", nil
		}
		if len(page.Items) == 0 || page.Next <= req.StartAfter {
			return nil, "", fmt.Errorf("the node answered a page that does not move the scan on (next %q after %q)", page.Next, req.StartAfter)
		}
		req.StartAfter = page.Next
	}
}

func newTableScan(env IO) *cobra.Command {
	var cf clientFlags
	var output, prefix string
	var limit int
	var all, keys bool
	cmd := &cobra.Command{
		Use:   "scan TABLE",
		Short: "List a table's items in key order",
		Long: `List a table's items in key order, with their revisions and values (--keys: the
keys alone, one a line). The scan reads page after page up to --limit items, or
all of them with --all. With -o json it prints {"items": [...], "next": KEY},
next being where a further scan would start.`,
		Example: `  gureum table scan orders --prefix 2025-03/ --limit 20
  gureum table scan orders --keys --all`,
		Args: cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := checkOutput(output, "table"); err != nil {
				return err
			}
			switch {
			case all && cmd.Flags().Changed("limit"):
				return errors.New("give --limit or --all, not both")
			case all:
				limit = 0
			case limit < 1:
				return fmt.Errorf("--limit %d: want 1 or more (--all for every item)", limit)
			}
			table := args[0]
			items, next, err := scanAll(cmd.Context(), c, table, admin.ScanRequest{Prefix: prefix, KeysOnly: keys}, limit)
			if err != nil {
				return fmt.Errorf("scan %s: %w", table, explainStorage(err))
			}
			if items == nil {
				items = []admin.Item{}
			}
			if output == "json" {
				return printJSON(env.Stdout, admin.ItemPage{Items: items, Next: next})
			}
			switch {
			case len(items) == 0 && prefix != "":
				fmt.Fprintf(env.Stdout, "no items in %s with prefix %q\n", table, prefix)
				return nil
			case len(items) == 0:
				fmt.Fprintf(env.Stdout, "no items in %s\n", table)
				return nil
			case keys:
				for _, it := range items {
					fmt.Fprintln(env.Stdout, it.Key)
				}
			default:
				now := time.Now()
				tw := newTable(env.Stdout)
				fmt.Fprintln(tw, "KEY\tREVISION\tMODIFIED\tVALUE")
				for _, it := range items {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", it.Key, it.Revision, when(it.Modified, now), oneLine(compactValue(it.Value), 60))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if next != "" {
				fmt.Fprintf(env.Stderr, "(the first %d items; more follow: raise --limit or pass --all)\n", len(items))
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVar(&prefix, "prefix", "", "only keys that start with this")
	f.IntVar(&limit, "limit", admin.DefaultScanLimit, "at most this many items")
	f.BoolVar(&all, "all", false, "every item, however many")
	f.BoolVar(&keys, "keys", false, "print the keys alone, one a line")
	outputFlag(cmd, &output, "table")
	return cmd
}

func newTableRm(env IO) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove tables and their items",
		Args:  cobra.MinimumNArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			for _, name := range args {
				if err := c.DeleteTable(cmd.Context(), name); err != nil {
					return fmt.Errorf("remove table %s: %w", name, explainStorage(err))
				}
				fmt.Fprintf(env.Stdout, "removed table %s\n", name)
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	return cmd
}

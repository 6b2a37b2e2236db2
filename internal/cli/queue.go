package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/registry"
)

func newQueue(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Create, list, send to, receive from, purge and remove queues",
		Long: `Queues hold messages until a consumer receives and deletes them, as SQS does:
a received message is invisible for the queue's visibility timeout and comes back
if it is not deleted in time; after --max-receives receives it moves to the
queue's dead-letter queue.`,
	}
	cmd.AddCommand(
		newQueueCreate(env),
		newQueueLs(env),
		newQueueSend(env),
		newQueueReceive(env),
		newQueuePurge(env),
		newQueueRm(env),
	)
	return cmd
}

func newQueueCreate(env IO) *cobra.Command {
	var cf clientFlags
	var output, dlq string
	var visibility, retention, delay time.Duration
	var maxReceives, maxSize int
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a queue, or change the settings of an existing one",
		Long: `Create a queue. On a queue that exists, only the settings given as flags
change; the others keep their values.`,
		Example: `  gureum queue create orders --visibility 1m --max-receives 5 --dlq orders-dlq`,
		Args:    cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			name := args[0]
			var attrs admin.QueueAttributes
			cur, err := c.Queue(cmd.Context(), name)
			switch {
			case err == nil:
				attrs = cur.Attributes
			case !apiclient.HasCode(err, admin.CodeQueueNotFound):
				return explain(err)
			}
			f := cmd.Flags()
			if f.Changed("visibility") {
				attrs.Visibility = registry.Duration(visibility)
			}
			if f.Changed("retention") {
				attrs.Retention = registry.Duration(retention)
			}
			if f.Changed("delay") {
				attrs.Delay = registry.Duration(delay)
			}
			if f.Changed("max-receives") {
				attrs.MaxReceives = maxReceives
			}
			if f.Changed("dlq") {
				attrs.DLQ = dlq
			}
			if f.Changed("max-message-size") {
				attrs.MaxMessageBytes = maxSize
			}
			info, created, err := c.PutQueue(cmd.Context(), name, attrs)
			if err != nil {
				return fmt.Errorf("queue %s: %w", name, explain(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, info)
			}
			state := "updated"
			if created {
				state = "created"
			}
			fmt.Fprintf(env.Stdout, "%s queue %s (visibility %s, retention %s", state, info.Name,
				info.Attributes.Visibility, info.Attributes.Retention)
			if info.Attributes.DLQ != "" {
				fmt.Fprintf(env.Stdout, ", dead letters to %s after %d receives", info.Attributes.DLQ, info.Attributes.MaxReceives)
			}
			fmt.Fprintln(env.Stdout, ")")
			return nil
		}),
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.DurationVar(&visibility, "visibility", 30*time.Second, "how long a received message stays invisible to other receivers")
	f.DurationVar(&retention, "retention", 96*time.Hour, "how long an undeleted message is kept")
	f.DurationVar(&delay, "delay", 0, "how long a new message waits before it can be received")
	f.IntVar(&maxReceives, "max-receives", 0, "receives of a message before it moves to the dead-letter queue")
	f.StringVar(&dlq, "dlq", "", "the dead-letter queue of messages received --max-receives times")
	f.IntVar(&maxSize, "max-message-size", 262144, "largest message body in bytes")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newQueueLs(env IO) *cobra.Command {
	return listCmd[admin.QueueInfo]{
		short:  "List queues and their message counts",
		fetch:  (*apiclient.Client).Queues,
		empty:  "no queues; create one with 'gureum queue create NAME'",
		header: "NAME\tVISIBLE\tIN-FLIGHT\tDELAYED\tOLDEST\tVISIBILITY\tDLQ",
		row: func(w io.Writer, q admin.QueueInfo, _ time.Time) {
			dlq := "-"
			if q.Attributes.DLQ != "" {
				dlq = fmt.Sprintf("%s (after %d)", q.Attributes.DLQ, q.Attributes.MaxReceives)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", q.Name, q.Visible, q.InFlight, q.Delayed,
				ageSeconds(q.OldestAge), q.Attributes.Visibility, dlq)
		},
	}.command(env)
}

func newQueueSend(env IO) *cobra.Command {
	var cf clientFlags
	var mf messageFlags
	var output string
	var delay time.Duration
	cmd := &cobra.Command{
		Use:   "send NAME [BODY | -]",
		Short: "Send a message to a queue and print its id",
		Example: `  gureum queue send orders '{"id": 42}'
  gureum queue send orders --file order.json --attr source=cli --number-attr priority=2
  echo hello | gureum queue send orders -`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := mf.body(env, args[1:])
			if err != nil {
				return err
			}
			attrs, err := mf.attributes()
			if err != nil {
				return err
			}
			entry := admin.SendEntry{Body: body, Attributes: attrs}
			if cmd.Flags().Changed("delay") {
				s, err := wholeSeconds("delay", delay, 900)
				if err != nil {
					return err
				}
				entry.DelaySeconds = &s
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			res, err := c.SendMessages(cmd.Context(), args[0], admin.SendRequest{Entries: []admin.SendEntry{entry}})
			if err != nil {
				return fmt.Errorf("send to %s: %w", args[0], explain(err))
			}
			if len(res.Results) != 1 {
				return fmt.Errorf("send to %s: the node answered %d results for one message", args[0], len(res.Results))
			}
			r := res.Results[0]
			if r.Error != nil {
				return fmt.Errorf("send to %s: %s (%s)", args[0], r.Error.Message, r.Error.Code)
			}
			if output == "json" {
				return printJSON(env.Stdout, r)
			}
			fmt.Fprintln(env.Stdout, r.MessageID)
			return nil
		},
	}
	cf.register(cmd, env)
	mf.register(cmd, "body")
	cmd.Flags().DurationVar(&delay, "delay", 0, "hold the message back this long, up to 15m (default: the queue's delay)")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newQueueReceive(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	var maxMsgs int
	var wait, visibility time.Duration
	var del bool
	cmd := &cobra.Command{
		Use:   "receive NAME",
		Short: "Receive messages from a queue and print them",
		Long: `Receive up to --max messages, waiting up to --wait for the first. A received
message is hidden from other receivers for the visibility timeout and comes back
unless it is deleted: --delete deletes what was printed.`,
		Example: `  gureum queue receive orders --max 5 --wait 0s
  gureum queue receive orders --delete -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxMsgs < 1 || maxMsgs > admin.MaxReceive {
				return fmt.Errorf("--max %d: want 1 to %d", maxMsgs, admin.MaxReceive)
			}
			req := admin.ReceiveRequest{Max: maxMsgs}
			var err error
			if req.WaitSeconds, err = wholeSeconds("wait", wait, admin.MaxWaitSeconds); err != nil {
				return err
			}
			if cmd.Flags().Changed("visibility") {
				s, err := wholeSeconds("visibility", visibility, admin.MaxVisibilitySeconds)
				if err != nil {
					return err
				}
				req.VisibilitySeconds = &s
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			name := args[0]
			res, err := c.ReceiveMessages(cmd.Context(), name, req)
			if err != nil {
				return fmt.Errorf("receive from %s: %w", name, explain(err))
			}
			if output == "json" {
				if err := printJSON(env.Stdout, res); err != nil {
					return err
				}
			} else {
				printMessages(env, res.Messages)
			}
			if !del || len(res.Messages) == 0 {
				return nil
			}
			receipts := make([]string, len(res.Messages))
			for i, m := range res.Messages {
				receipts[i] = m.ReceiptHandle
			}
			dr, err := c.DeleteMessages(cmd.Context(), name, receipts)
			if err != nil {
				return fmt.Errorf("delete from %s: %w (the messages come back after the visibility timeout)", name, explain(err))
			}
			var failed []string
			for i, e := range dr.Errors {
				if e != nil && i < len(res.Messages) {
					failed = append(failed, res.Messages[i].MessageID+": "+e.Message)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("could not delete %d of %d messages from %s (they come back after the visibility timeout): %s",
					len(failed), len(receipts), name, strings.Join(failed, "; "))
			}
			fmt.Fprintf(env.Stderr, "deleted %d messages\n", len(receipts))
			return nil
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.IntVar(&maxMsgs, "max", admin.MaxReceive, "most messages to receive (1 to 10)")
	f.DurationVar(&wait, "wait", admin.MaxWaitSeconds*time.Second, "how long to wait for a message when the queue is empty (0s to 20s)")
	f.DurationVar(&visibility, "visibility", 30*time.Second, "hide the messages this long (default: the queue's visibility timeout)")
	f.BoolVar(&del, "delete", false, "delete the messages once printed")
	outputFlag(cmd, &output, "text")
	return cmd
}

// printMessages prints received messages: a line with the id, the receive
// count and the attributes, then the body.
func printMessages(env IO, ms []admin.Message) {
	if len(ms) == 0 {
		fmt.Fprintln(env.Stdout, "no messages")
		return
	}
	for i, m := range ms {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "message %s  receive %d  sent %s", m.MessageID, m.ReceiveCount, when(m.SentAt, time.Now()))
		if len(m.Attributes) > 0 {
			fmt.Fprintf(env.Stdout, "  %s", formatAttributes(m.Attributes))
		}
		fmt.Fprintln(env.Stdout)
		fmt.Fprintln(env.Stdout, strings.TrimRight(m.Body, "\n"))
	}
}

func newQueuePurge(env IO) *cobra.Command {
	return newPurgeCmd(env, "purge NAME", "Delete every message of a queue", (*apiclient.Client).PurgeQueue)
}

func newQueueRm(env IO) *cobra.Command {
	return newRmCmd(env, "queue", "Remove queues and their messages", (*apiclient.Client).DeleteQueue)
}

package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

func newDLQ(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and purge dead-letter queues",
		Long: `A dead-letter queue holds what could not be processed: messages received too
often from a queue, asynchronous invocations that failed every retry, topic
messages a subscription could not take. Each message remembers its source, and
replay sends it back there.`,
	}
	cmd.AddCommand(
		newDLQLs(env),
		newDLQShow(env),
		newDLQReplay(env),
		newDLQPurge(env),
	)
	return cmd
}

func newDLQLs(env IO) *cobra.Command {
	return listCmd[admin.QueueInfo]{
		short:  "List dead-letter queues and where their messages come from",
		fetch:  (*apiclient.Client).DeadLetterQueues,
		empty:  "no dead-letter queues",
		header: "QUEUE\tMESSAGES\tSOURCES",
		row: func(w io.Writer, q admin.QueueInfo, _ time.Time) {
			fmt.Fprintf(w, "%s\t%d\t%s\n", q.Name, q.Visible+q.InFlight+q.Delayed, orDash(strings.Join(q.DeadLetterFor, ", ")))
		},
	}.command(env)
}

func newDLQShow(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	var maxMsgs int
	cmd := &cobra.Command{
		Use:   "show QUEUE",
		Short: "Print a dead-letter queue's messages without removing them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxMsgs < 1 || maxMsgs > admin.MaxPeek {
				return fmt.Errorf("--max %d: want 1 to %d", maxMsgs, admin.MaxPeek)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			ms, err := c.PeekMessages(cmd.Context(), args[0], maxMsgs)
			if err != nil {
				return fmt.Errorf("dead-letter queue %s: %w", args[0], explain(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, ms)
			}
			if len(ms) == 0 {
				fmt.Fprintf(env.Stdout, "%s is empty\n", args[0])
				return nil
			}
			now := time.Now()
			for i, m := range ms {
				if i > 0 {
					fmt.Fprintln(env.Stdout)
				}
				fmt.Fprintf(env.Stdout, "message %s\n", m.MessageID)
				if dl := m.DeadLetter; dl != nil {
					fmt.Fprintf(env.Stdout, "  source  %s\n  count   %d\n  reason  %s\n  moved   %s\n",
						dl.Source, dl.Count, orDash(oneLine(dl.Reason, 200)), when(dl.At, now))
				} else {
					fmt.Fprintf(env.Stdout, "  source  - (sent to this queue directly)\n  sent    %s\n", when(m.SentAt, now))
				}
				if len(m.Attributes) > 0 {
					fmt.Fprintf(env.Stdout, "  attrs   %s\n", formatAttributes(m.Attributes))
				}
				fmt.Fprintf(env.Stdout, "  body    %s\n", strings.TrimRight(m.Body, "\n"))
			}
			return nil
		},
	}
	cf.register(cmd, env)
	cmd.Flags().IntVar(&maxMsgs, "max", admin.DefaultPeek, "most messages to print (1 to 100)")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newDLQReplay(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	var maxMsgs int
	cmd := &cobra.Command{
		Use:   "replay QUEUE",
		Short: "Send a dead-letter queue's messages back to their sources",
		Long: `Send each message back where it came from: to its queue, as a new asynchronous
invocation of its function, or to its topic subscription. A message replayed is
removed from the dead-letter queue; one that fails stays. The exit code is 1 when
any message failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxMsgs < 0 {
				return fmt.Errorf("--max %d: want a positive number (0: every message)", maxMsgs)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			res, err := c.Replay(cmd.Context(), args[0], admin.ReplayRequest{Max: maxMsgs})
			if err != nil {
				return fmt.Errorf("replay %s: %w", args[0], explain(err))
			}
			if output == "json" {
				if err := printJSON(env.Stdout, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(env.Stdout, "replayed %d, failed %d\n", res.Replayed, res.Failed)
			}
			if res.Failed == 0 {
				return nil
			}
			for _, e := range res.Errors {
				fmt.Fprintf(env.Stderr, "  %s\n", e)
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("%d messages could not be replayed and stay in %s; see 'gureum dlq show %s'",
				res.Failed, args[0], args[0])}
		},
	}
	cf.register(cmd, env)
	cmd.Flags().IntVar(&maxMsgs, "max", 0, "replay at most this many messages (0: every message there when replay starts)")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newDLQPurge(env IO) *cobra.Command {
	return newPurgeCmd(env, "purge QUEUE", "Delete every message of a dead-letter queue", (*apiclient.Client).PurgeDeadLetters)
}

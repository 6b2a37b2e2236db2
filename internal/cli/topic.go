package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

func newTopic(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create topics, publish to them and manage their subscriptions",
		Long: `A topic fans every published message out to all its subscriptions, as SNS
does: functions, queues and HTTP endpoints, each with its own retries, filter
policy and dead-letter queue.`,
	}
	cmd.AddCommand(
		newTopicCreate(env),
		newTopicLs(env),
		newTopicShow(env),
		newTopicPublish(env),
		newTopicSubscribe(env),
		newTopicUnsubscribe(env),
		newTopicRm(env),
	)
	return cmd
}

func newTopicCreate(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic (nothing changes if it exists)",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			info, created, err := c.PutTopic(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("topic %s: %w", args[0], explain(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, info)
			}
			if created {
				fmt.Fprintf(env.Stdout, "created topic %s\n", info.Name)
			} else {
				fmt.Fprintf(env.Stdout, "topic %s exists (%d subscriptions)\n", info.Name, len(info.Subscriptions))
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

func newTopicLs(env IO) *cobra.Command {
	return listCmd[admin.TopicInfo]{
		short:  "List topics",
		fetch:  (*apiclient.Client).Topics,
		empty:  "no topics; create one with 'gureum topic create NAME'",
		header: "NAME\tSUBSCRIPTIONS",
		row: func(w io.Writer, t admin.TopicInfo, _ time.Time) {
			fmt.Fprintf(w, "%s\t%d\n", t.Name, len(t.Subscriptions))
		},
	}.command(env)
}

func newTopicShow(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "List a topic's subscriptions",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			t, err := c.Topic(cmd.Context(), args[0])
			if err != nil {
				return explain(err)
			}
			if output == "json" {
				return printJSON(env.Stdout, t)
			}
			if len(t.Subscriptions) == 0 {
				fmt.Fprintf(env.Stdout, "topic %s has no subscriptions; add one with 'gureum topic subscribe %s --function FN'\n", t.Name, t.Name)
				return nil
			}
			tw := newTable(env.Stdout)
			fmt.Fprintln(tw, "ID\tPROTOCOL\tENDPOINT\tFILTER\tRAW\tDLQ\tOWNER")
			for _, s := range t.Subscriptions {
				filter := "-"
				if len(s.FilterPolicy) > 0 {
					var b bytes.Buffer
					if json.Compact(&b, s.FilterPolicy) != nil {
						b.Write(s.FilterPolicy)
					}
					filter = oneLine(b.String(), 40)
					if s.FilterScope == "body" {
						filter = "body " + filter
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%s\n", s.ID, s.Protocol, s.Endpoint, filter, s.RawDelivery,
					orDash(s.DLQ), orDash(s.Owner))
			}
			return tw.Flush()
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "table")
	return cmd
}

func newTopicPublish(env IO) *cobra.Command {
	var cf clientFlags
	var mf messageFlags
	var output, subject string
	cmd := &cobra.Command{
		Use:   "publish NAME [MESSAGE | -]",
		Short: "Publish a message to a topic and print its id",
		Example: `  gureum topic publish order-events '{"order": 42, "state": "paid"}' --attr type=paid
  gureum topic publish order-events --file event.json --subject "order paid"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := mf.body(env, args[1:])
			if err != nil {
				return err
			}
			if msg == "" {
				return errors.New("the message is empty; a topic message needs a body")
			}
			attrs, err := mf.attributes()
			if err != nil {
				return err
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			res, err := c.Publish(cmd.Context(), args[0], admin.PublishRequest{Subject: subject, Message: msg, Attributes: attrs})
			if err != nil {
				return fmt.Errorf("publish to %s: %w", args[0], explain(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, res)
			}
			fmt.Fprintln(env.Stdout, res.MessageID)
			return nil
		},
	}
	cf.register(cmd, env)
	mf.register(cmd, "message")
	cmd.Flags().StringVar(&subject, "subject", "", "the message's subject")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newTopicSubscribe(env IO) *cobra.Command {
	var cf clientFlags
	var output, function, queue, endpoint, filter, filterScope, dlq, id string
	var raw bool
	var maxAttempts int
	cmd := &cobra.Command{
		Use:   "subscribe NAME (--function FN | --queue Q | --http URL)",
		Short: "Subscribe a function, a queue or an HTTP endpoint to a topic; print the subscription id",
		Example: `  gureum topic subscribe order-events --function audit
  gureum topic subscribe order-events --queue paid-orders --filter '{"type": ["paid"]}' --raw
  gureum topic subscribe order-events --http https://hooks.example.com/orders --max-attempts 10`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := admin.SubscriptionSpec{ID: id, RawDelivery: raw, DLQ: dlq, MaxAttempts: maxAttempts, FilterScope: filterScope}
			n := 0
			if function != "" {
				spec.Protocol, spec.Endpoint, n = "function", function, n+1
			}
			if queue != "" {
				spec.Protocol, spec.Endpoint, n = "queue", queue, n+1
			}
			if endpoint != "" {
				u, err := url.Parse(endpoint)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--http %q: want an http:// or https:// URL", endpoint)
				}
				spec.Protocol, spec.Endpoint, n = u.Scheme, endpoint, n+1
			}
			if n != 1 {
				return errors.New("give exactly one of --function FN, --queue Q or --http URL")
			}
			if filter != "" {
				var obj map[string]any
				if err := json.Unmarshal([]byte(filter), &obj); err != nil || obj == nil {
					return fmt.Errorf(`--filter: want a JSON object such as '{"type": ["paid"]}'`)
				}
				spec.FilterPolicy = json.RawMessage(filter)
			}
			if maxAttempts < 0 {
				return fmt.Errorf("--max-attempts %d: want a positive number (0: the default)", maxAttempts)
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			sub, err := c.Subscribe(cmd.Context(), args[0], spec)
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", args[0], explain(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, sub)
			}
			fmt.Fprintln(env.Stdout, sub.ID)
			return nil
		},
	}
	cf.register(cmd, env)
	f := cmd.Flags()
	f.StringVar(&function, "function", "", "deliver to this function")
	f.StringVar(&queue, "queue", "", "deliver to this queue")
	f.StringVar(&endpoint, "http", "", "deliver by POST to this http:// or https:// URL")
	f.StringVar(&filter, "filter", "", "a filter policy (JSON): only matching messages are delivered")
	f.StringVar(&filterScope, "filter-scope", "", "what the filter matches: attributes (default) or body")
	f.BoolVar(&raw, "raw", false, "deliver the message alone, not wrapped in an SNS notification")
	f.StringVar(&dlq, "dlq", "", "queue for messages that could not be delivered (default: topic-NAME-dlq)")
	f.IntVar(&maxAttempts, "max-attempts", 0, "delivery attempts before a message is dead-lettered (0: the default)")
	f.StringVar(&id, "id", "", "the subscription id (default: generated)")
	outputFlag(cmd, &output, "text")
	return cmd
}

func newTopicUnsubscribe(env IO) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "unsubscribe NAME ID",
		Short: "Remove a subscription from a topic",
		Args:  cobra.ExactArgs(2),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := c.Unsubscribe(cmd.Context(), args[0], args[1]); err != nil {
				if e := explain(err); e == err && apiclient.IsNotFound(err) {
					err = fmt.Errorf("%w; see 'gureum topic show %s' for its subscriptions", err, args[0])
				} else {
					err = e
				}
				return fmt.Errorf("unsubscribe %s from %s: %w", args[1], args[0], err)
			}
			fmt.Fprintf(env.Stdout, "removed subscription %s from %s\n", args[1], args[0])
			return nil
		}),
	}
	cf.register(cmd, env)
	return cmd
}

func newTopicRm(env IO) *cobra.Command {
	return newRmCmd(env, "topic", "Remove topics and their subscriptions", (*apiclient.Client).DeleteTopic)
}

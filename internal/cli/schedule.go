package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newSchedule(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Show the functions' schedules",
		Long: `Schedules come from the 'schedule' events of the functions in gureum.yaml:
rate(5 minutes), cron(0 12 * * ? *) or a 5-field cron expression, with a time
zone. Each tick fires once across all nodes.`,
	}
	cmd.AddCommand(newScheduleLs(env))
	return cmd
}

func newScheduleLs(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List schedules with their next and last fire times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			ss, err := c.Schedules(cmd.Context())
			if err != nil {
				return explain(err)
			}
			if output == "json" {
				return printJSON(env.Stdout, ss)
			}
			if len(ss) == 0 {
				fmt.Fprintln(env.Stdout, "no schedules; add a 'schedule' event to a function in gureum.yaml")
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FUNCTION\tEXPRESSION\tTIMEZONE\tNEXT\tLAST\tLAST-ERROR")
			for _, s := range ss {
				tz := s.Timezone
				if tz == "" {
					tz = "UTC"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Function, s.Expression, tz,
					when(s.Next, now), when(s.Last, now), orDash(oneLine(s.LastError, 60)))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd, env)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
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
	return listCmd[admin.ScheduleInfo]{
		short:  "List schedules with their next and last fire times",
		fetch:  (*apiclient.Client).Schedules,
		empty:  "no schedules; add a 'schedule' event to a function in gureum.yaml",
		header: "FUNCTION\tEXPRESSION\tTIMEZONE\tNEXT\tLAST\tLAST-ERROR",
		row: func(w io.Writer, s admin.ScheduleInfo, now time.Time) {
			tz := s.Timezone
			if tz == "" {
				tz = "UTC"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Function, s.Expression, tz,
				when(s.Next, now), when(s.Last, now), orDash(oneLine(s.LastError, 60)))
		},
	}.command(env)
}

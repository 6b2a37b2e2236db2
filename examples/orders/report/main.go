// Command report runs every hour on a schedule. It is an ordinary handler of
// EventBridge's scheduled event, the same on AWS.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	gureum "github.com/gureum/gureum/sdk/go"
)

type result struct {
	Period string `json:"period"`
}

func handler(ctx context.Context, ev events.CloudWatchEvent) (result, error) {
	if ev.DetailType != "Scheduled Event" {
		return result{}, fmt.Errorf("report runs on a schedule; got a %q event from %q", ev.DetailType, ev.Source)
	}
	// A real report would read the hour's orders from a store; this one
	// names the hour it covers.
	end := ev.Time.UTC().Truncate(time.Hour)
	period := end.Add(-time.Hour).Format(time.RFC3339) + "/" + end.Format(time.RFC3339)
	fmt.Printf("hourly report for %s (schedule %s)\n", period, ev.ID)
	return result{Period: period}, nil
}

func main() {
	gureum.Start(handler)
}

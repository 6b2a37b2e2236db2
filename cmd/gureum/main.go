// Command gureum runs serverless functions, events and workflows from one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// Schedules name IANA time zones; the binary carries the zone data so
	// that they work on machines without a zoneinfo database.
	_ "time/tzdata"

	"github.com/gureum/gureum/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

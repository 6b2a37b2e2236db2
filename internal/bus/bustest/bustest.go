// Package bustest starts embedded NATS JetStream servers for tests: the
// real bus a node runs on, with its store in a temporary directory.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
)

// startTimeout bounds how long a bus may take to start on a loaded machine.
const startTimeout = 60 * time.Second

// Start starts an embedded JetStream with its store in a new t.TempDir();
// it is shut down when the test ends, after the cleanups registered later
// (a service's Shutdown, say) have run.
func Start(t testing.TB) *bus.Bus {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn is Start with the store in dir. A test that shuts one bus down
// and starts another on the same dir sees what survives a restart.
// Shutting down a bus again is harmless, so a test may do it early.
func StartIn(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b, err := bus.Start(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("start bus: %v", err)
	}
	// A test that cares how shutdown goes calls Shutdown itself; a later
	// call returns the same result.
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}

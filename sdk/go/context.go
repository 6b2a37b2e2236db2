package gureum

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// traceKey is the context key under which aws-lambda-go stores the trace id.
const traceKey = "x-amzn-trace-id"

// invocation is the context of one invocation: its deadline, trace id and
// Lambda context in one allocation. It behaves as the context of
// context.WithDeadline and its cancel function, called when the invocation
// ends, but arms a timer only when someone asks for Done: the host stops an
// instance at its deadline anyway, so most handlers never wait on Done, and
// in a WebAssembly guest a timer costs more than the rest of an
// invocation's setup.
type invocation struct {
	lc       lambdacontext.LambdaContext
	traceID  string
	deadline time.Time // zero: none

	mu    sync.Mutex
	done  chan struct{} // nil until asked for
	err   error         // set when done is closed
	ended bool          // end was called
	timer *time.Timer
}

// parseInvocation reads the metadata the host writes before the event:
// request id, deadline (Unix milliseconds, 0 for none), invoked function
// ARN and trace id, each ended by a newline but the last.
func parseInvocation(meta string) (*invocation, error) {
	id, rest, ok1 := strings.Cut(meta, "\n")
	ms, rest, ok2 := strings.Cut(rest, "\n")
	arn, trace, ok3 := strings.Cut(rest, "\n")
	deadline, err := strconv.ParseInt(ms, 10, 64)
	if !ok1 || !ok2 || !ok3 || err != nil || deadline < 0 {
		return nil, errors.New("gureum: malformed invocation metadata")
	}
	inv := &invocation{
		lc:      lambdacontext.LambdaContext{AwsRequestID: id, InvokedFunctionArn: arn},
		traceID: trace,
	}
	if deadline > 0 {
		inv.deadline = time.UnixMilli(deadline)
	}
	return inv, nil
}

// context returns the handler's context.
func (c *invocation) context() context.Context {
	return lambdacontext.NewContext(c, &c.lc)
}

func (c *invocation) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *invocation) Value(key any) any {
	if k, ok := key.(string); ok && k == traceKey {
		return c.traceID
	}
	return nil
}

// Done returns a channel closed at the deadline or when the invocation ends.
func (c *invocation) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

// Err is context.DeadlineExceeded past the deadline, context.Canceled after
// the invocation ended, and nil before.
func (c *invocation) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil && !c.ended && (c.deadline.IsZero() || time.Now().Before(c.deadline)) {
		return nil // the common case, without a timer
	}
	c.armLocked()
	return c.err
}

// armLocked creates done and the timer that closes it. c.mu must be held.
func (c *invocation) armLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	d := time.Until(c.deadline)
	switch {
	case c.ended:
		c.closeLocked(context.Canceled)
	case c.deadline.IsZero():
		// Closed only when the invocation ends.
	case d <= 0:
		c.closeLocked(context.DeadlineExceeded)
	default:
		c.timer = time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.closeLocked(context.DeadlineExceeded)
		})
	}
}

// closeLocked closes done with err, once. c.mu must be held.
func (c *invocation) closeLocked(err error) {
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// end ends the invocation, as a cancel function does.
func (c *invocation) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.done != nil {
		c.closeLocked(context.Canceled)
	}
}

func (c *invocation) String() string {
	return "gureum.invocation(" + c.lc.AwsRequestID + ")"
}

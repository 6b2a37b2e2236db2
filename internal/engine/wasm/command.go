package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/engine/wasm/interrupt"
)

// command is an instance of a WASI command module. Each invocation runs the
// program afresh with the event on stdin; what it writes to stdout is the
// response and what it writes to stderr goes to the request's log.
//
// A program that exits with a non-zero code has failed the invocation, not
// the instance: Invoke returns a Response with FunctionError and a
// Runtime.ExitError document, and no error. A trap or a timeout is an error.
//
// An instance serves one invocation at a time.
type command struct {
	call
	config  wazero.ModuleConfig
	stdin   bytes.Reader
	stdout  capture
	stderr  logSink
	sleeper sleeper
	closed  atomic.Bool
}

func newCommand(f *function) *command {
	c := &command{call: call{fn: f}}
	c.stderr.watch = true
	c.config = f.config.
		WithStdin(&c.stdin).
		WithStdout(&c.stdout).
		WithStderr(&c.stderr).
		WithNanosleep(c.sleeper.sleep)
	if !f.rt.interruptible {
		c.config = c.config.WithStartFunctions(exportCommand)
	} else {
		// _start is called once the interrupt flag can be armed.
		c.config = c.config.WithStartFunctions()
	}
	return c
}

// Invoke runs the program once for req.
func (c *command) Invoke(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("%s: invoke on a closed instance", c.fn.name)
	}
	ctx, cancel := invocationContext(ctx, req)
	defer cancel()
	ctx = c.bind(ctx)
	c.reset()
	c.serve(req.Host)
	defer c.done()
	c.stdin.Reset(req.Payload)
	c.stdout.reset()
	c.stderr.point(req.Log)
	c.sleeper.done = ctx.Done()
	defer func() {
		c.stdin.Reset(nil)
		c.stderr.point(nil)
		c.sleeper.done = nil
	}()

	if !c.fn.e.enterGuest() {
		return nil, fmt.Errorf("%s: invoke while the engine is closing", c.fn.name)
	}
	mod, err := c.fn.rt.InstantiateModule(ctx, c.fn.mod.compiled, c.config)
	if err == nil && c.fn.rt.interruptible {
		err = c.start(ctx, mod)
	}
	if mod != nil {
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	c.fn.e.leaveGuest()
	if c.stdout.tooLarge {
		return nil, fmt.Errorf("%s: %w: more than %d bytes on stdout", c.fn.name, engine.ErrResponseTooLarge, engine.MaxResponseBytes)
	}
	if err == nil {
		payload := c.stdout.buf
		if payload == nil {
			payload = []byte{}
		}
		return &engine.Response{Payload: payload}, nil
	}

	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() != sys.ExitCodeDeadlineExceeded && exit.ExitCode() != sys.ExitCodeContextCanceled {
		msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: exit status %d", req.ID, exit.ExitCode())
		if c.stderr.oom {
			msg += fmt.Sprintf(" (out of memory, limit %d MiB)", c.fn.memMiB)
		}
		doc, _ := json.Marshal(struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}{msg, "Runtime.ExitError"})
		return &engine.Response{Payload: doc, FunctionError: true}, nil
	}
	return nil, c.fn.failure(err, c.stderr.oom)
}

// Close marks the instance closed; between invocations it holds no module.
// start runs the program of an interruptible module, stopped by its flag
// when ctx is done. Exiting with code 0 is success, as it is when
// instantiation runs the program.
func (c *command) start(ctx context.Context, mod api.Module) error {
	flag, err := interrupt.NewFlag(mod)
	if err != nil {
		return err
	}
	stop := flag.AfterDone(ctx)
	_, err = mod.ExportedFunction(exportCommand).Call(ctx)
	stop()
	var exit *sys.ExitError
	switch {
	case err == nil, errors.As(err, &exit) && exit.ExitCode() == 0:
		return nil
	case flag.IsSet() && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return sys.NewExitError(sys.ExitCodeDeadlineExceeded)
	case flag.IsSet():
		return sys.NewExitError(sys.ExitCodeContextCanceled)
	}
	return err
}

func (c *command) Close(context.Context) error {
	c.closed.Store(true)
	return nil
}

var _ engine.Instance = (*command)(nil)

package interrupt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/sys"
)

// A reactor spinning in `for {}` with no exit to the host is stopped by
// the flag, in a runtime without WithCloseOnContextDone, and the call
// says so.
func TestInterruptStopsReactorLoop(t *testing.T) {
	rt := newRuntime(t, false)
	c := compile(t, rt, modules.reactorInstr)
	for _, action := range []string{"loop", "calls"} {
		t.Run(action, func(t *testing.T) {
			r := startReactor(t, rt, c, true)
			_, _, err := r.invoke(100*time.Millisecond, `{"action":"`+action+`"}`)
			if err == nil {
				t.Fatal("the spinning call returned without an error")
			}
			if !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("error %v, want a trap at unreachable", err)
			}
			if !r.flag.IsSet() {
				t.Error("IsSet is false after the flag stopped the call")
			}
		})
	}
}

// The same for a command whose main spins.
func TestInterruptStopsCommandLoop(t *testing.T) {
	rt := newRuntime(t, false)
	c := compile(t, rt, modules.commandInstr)
	_, err := runCommand(t, rt, c, 100*time.Millisecond, true, "loop")
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error %v, want a trap at unreachable", err)
	}
}

// A reactor that is never interrupted keeps serving, across many budget
// periods, and the flag is clear.
func TestUninterruptedReactorServes(t *testing.T) {
	rt := newRuntime(t, false)
	r := startReactor(t, rt, compile(t, rt, modules.reactorInstr), true)
	for i := 0; i < 20; i++ {
		status, resp, err := r.invoke(30*time.Second, `{"action":"sum","n":100000}`)
		if err != nil || status != 0 {
			t.Fatalf("invoke %d: status %d, %v", i, status, err)
		}
		if want := `{"sum":4999950000}`; string(resp) != want {
			t.Fatalf("invoke %d: %s, want %s", i, resp, want)
		}
	}
	if r.flag.IsSet() {
		t.Error("IsSet is true, nobody set the flag")
	}
}

// Instrumented modules do what the originals do: the reactor and the
// command, doing JSON, maps, goroutines, sleeps, garbage collection and a
// big allocation, give the same output.
func TestInstrumentedBehavesTheSame(t *testing.T) {
	rt := newRuntime(t, false)
	t.Run("reactor", func(t *testing.T) {
		var outs [2]string
		for i, bin := range [][]byte{modules.reactor, modules.reactorInstr} {
			r := startReactor(t, rt, compile(t, rt, bin), i == 1)
			for _, payload := range []string{
				`{"action":"work"}`,
				`{"action":"echo","name":"x","tags":{"a":"b"},"values":[1,2,3]}`,
				`{"action":"sum","n":12345678}`,
				`{"action":"nope"}`,
			} {
				status, resp, err := r.invoke(60*time.Second, payload)
				if err != nil {
					t.Fatalf("module %d %s: %v", i, payload, err)
				}
				outs[i] += fmt.Sprintf("%d %s\n", status, resp)
			}
		}
		if outs[0] != outs[1] {
			t.Fatalf("outputs differ:\noriginal:\n%s\ninstrumented:\n%s", outs[0], outs[1])
		}
		if !strings.Contains(outs[0], `big 96 MiB`) || !strings.Contains(outs[0], `"values":[1,2,3]`) {
			t.Fatalf("unexpected output:\n%s", outs[0])
		}
	})
	t.Run("command", func(t *testing.T) {
		var outs [2]string
		for i, bin := range [][]byte{modules.command, modules.commandInstr} {
			out, err := runCommand(t, rt, compile(t, rt, bin), 60*time.Second, i == 1, "work")
			var exit *sys.ExitError
			if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 0) {
				t.Fatalf("module %d: %v", i, err)
			}
			outs[i] = out
		}
		if outs[0] != outs[1] {
			t.Fatalf("outputs differ:\noriginal:\n%s\ninstrumented:\n%s", outs[0], outs[1])
		}
		if !strings.Contains(outs[0], "gc ran: true") {
			t.Fatalf("unexpected output:\n%s", outs[0])
		}
	})
}

// childEnv selects, in a child process, the scenario TestGCChild runs.
const childEnv = "GUREUM_INTERRUPT_CHILD"

// Guests spinning in compiled code, while other goroutines collect garbage
// and allocate: every collection completes and the guests are stopped by
// the flag, set by a context's timer. The scenario runs in a child process
// because a hang would freeze the test's own timeout.
func TestGCWhileGuestsSpin(t *testing.T) {
	out, finished, err := runChild(t, "TestGCChild", 120*time.Second, "", 0, childEnv+"=instrumented")
	if !finished {
		t.Fatalf("the child process hung:\n%s", out)
	}
	if err != nil || !strings.Contains(out, "guests stopped") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// The controls: without the instrumentation, and with the flag checks but
// without the exit to Go, a spinning guest blocks the garbage collector.
// They show that the scenario above can fail, and that the exit is what
// makes it pass.
func TestGCHangsWithoutSafePoints(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a child process to hang")
	}
	for _, mode := range []string{"plain", "no-exit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			out, finished, _ := runChild(t, "TestGCChild", 120*time.Second, "starting the guests", 5*time.Second, childEnv+"="+mode)
			if finished {
				t.Fatalf("the child process finished; want it blocked in the collector:\n%s", out)
			}
			// It stops in our runtime.GC, or earlier in one the runtime
			// started by itself: no collection completes either way.
			if strings.Contains(out, "collected") {
				t.Fatalf("want the child blocked in a collection:\n%s", out)
			}
		})
	}
}

// withoutExits returns the instrumented reactor with the memory.grow of
// every check replaced by nops: flag checks with no safe point.
func withoutExits(t *testing.T) []byte {
	// The two globals Instrument added are the last ones.
	m, err := readSections(modules.reactorInstr[len(header):])
	if err != nil {
		t.Fatal(err)
	}
	check := checkSequence(m.globals-2, m.globals-1, Budget)
	grow := []byte{opI32Const, 0, opMemoryGrow, 0, opDrop}
	i := bytes.Index(check, grow)
	if i < 0 {
		t.Fatal("no memory.grow in the check sequence")
	}
	noExit := bytes.Clone(check)
	copy(noExit[i:], bytes.Repeat([]byte{opNop}, len(grow)))
	out := bytes.ReplaceAll(modules.reactorInstr, check, noExit)
	if bytes.Equal(out, modules.reactorInstr) {
		t.Fatal("no check sequence found")
	}
	return out
}

// TestGCChild is the scenario of TestGCWhileGuestsSpin, run only in a
// child process.
func TestGCChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs in a child process of TestGCWhileGuestsSpin")
	}
	rt := newRuntime(t, false)
	bin, actions := modules.reactorInstr, []string{"loop", "calls"}
	switch mode {
	case "plain":
		bin, actions = modules.reactor, []string{"loop"}
	case "no-exit":
		bin, actions = withoutExits(t), []string{"loop"}
	}
	c := compile(t, rt, bin)

	fmt.Fprintln(os.Stderr, "starting the guests")
	var wg sync.WaitGroup
	errs := make([]error, len(actions))
	started := make(chan struct{}, len(actions))
	for i, action := range actions {
		r := startReactor(t, rt, c, mode != "plain")
		wg.Go(func() {
			started <- struct{}{}
			_, _, errs[i] = r.invoke(500*time.Millisecond, `{"action":"`+action+`"}`)
			if mode != "plain" && !r.flag.IsSet() {
				errs[i] = fmt.Errorf("%s: returned %v without the flag set", action, errs[i])
			}
		})
	}
	for range actions {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // let the guests enter their loops

	var gcs sync.WaitGroup
	var slowest [2]time.Duration
	for g := 0; g < 2; g++ {
		gcs.Go(func() {
			var keep [][]byte
			for i := 0; i < 20; i++ {
				keep = append(keep, make([]byte, 1<<20))
				if len(keep) > 8 {
					keep = keep[1:]
				}
				fmt.Fprintln(os.Stderr, "collecting")
				start := time.Now()
				runtime.GC()
				slowest[g] = max(slowest[g], time.Since(start))
				fmt.Fprintln(os.Stderr, "collected")
			}
		})
	}
	gcs.Wait()
	wg.Wait()
	fmt.Fprintf(os.Stderr, "slowest runtime.GC while the guests spun: %v\n", max(slowest[0], slowest[1]))
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: %v, want a trap at unreachable", actions[i], err)
		}
	}
	fmt.Fprintln(os.Stderr, "guests stopped")
}

// The test module's echo really decodes and encodes its event.
func TestEcho(t *testing.T) {
	rt := newRuntime(t, false)
	r := startReactor(t, rt, compile(t, rt, modules.reactorInstr), true)
	status, resp, err := r.invoke(30*time.Second, `{"action":"echo","name":"n","values":[4]}`)
	if err != nil || status != 0 {
		t.Fatalf("status %d, %v", status, err)
	}
	var got struct {
		Event struct {
			Name   string
			Values []int
		}
	}
	if err := json.Unmarshal(resp, &got); err != nil || got.Event.Name != "n" || len(got.Event.Values) != 1 {
		t.Fatalf("response %s: %v", resp, err)
	}
}

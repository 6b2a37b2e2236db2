// Command snap is a reactor for the snapshot tests: a heavy initialization
// (a 20,000-entry map) and a handler that reports random numbers, the
// clock, and exercises the heap, the garbage collector, goroutines and
// timers.
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	gureum "github.com/gureum/gureum/sdk/go"
)

var (
	table    = map[string]int{}
	initTime time.Time
	restored int
	calls    int // invocations this instance served, counted by "count"
	// own is a generator the function reseeds on restore, as OnRestore's
	// documentation tells functions to do.
	own *rand.Rand
)

func init() {
	for i := range 20000 {
		table["key-"+strconv.Itoa(i)] = i * i
	}
	initTime = time.Now()
	own = rand.New(rand.NewPCG(1, 2))
}

type event struct {
	Action string `json:"action"`
	MiB    int    `json:"mib,omitempty"`
}

type result struct {
	Table     int    `json:"table"`
	Restored  int    `json:"restored"`
	Global    uint64 `json:"global,omitempty"`
	Own       uint64 `json:"own,omitempty"`
	Crypto    uint64 `json:"crypto,omitempty"`
	SinceInit int64  `json:"sinceInit,omitempty"`
	Sum       int    `json:"sum,omitempty"`
	Calls     int    `json:"calls,omitempty"`
	Instance  string `json:"instance,omitempty"`
}

func handle(_ context.Context, e event) (result, error) {
	r := result{Table: table["key-19999"], Restored: restored}
	switch e.Action {
	case "echo":
	case "spin":
		// Runs until the host stops it, writing to the heap as it goes.
		buf := make([]byte, 1<<20)
		for i := 0; ; i++ {
			buf[i%len(buf)]++
		}
	case "count":
		calls++
		r.Calls, r.Instance = calls, gureum.InstanceID()
	case "rand":
		var b [8]byte
		_, _ = crand.Read(b[:])
		r.Global, r.Own, r.Crypto = rand.Uint64(), own.Uint64(), binary.LittleEndian.Uint64(b[:])
	case "clock":
		r.SinceInit = int64(time.Since(initTime))
	case "work":
		// Heap growth, the garbage collector, goroutines and timers.
		var keep [][]byte
		for range e.MiB {
			keep = append(keep, make([]byte, 1<<20))
		}
		runtime.GC()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range 8 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Millisecond)
				mu.Lock()
				r.Sum += i
				mu.Unlock()
			})
		}
		wg.Wait()
		<-time.After(5 * time.Millisecond)
		r.Sum += len(keep)
		fmt.Println("worked", r.Sum)
	default:
		return r, fmt.Errorf("unknown action %q", e.Action)
	}
	return r, nil
}

func main() {
	gureum.OnRestore(func() {
		restored++
		var seed [16]byte
		_, _ = crand.Read(seed[:])
		own = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:]), binary.LittleEndian.Uint64(seed[8:])))
	})
	gureum.Start(handle)
}

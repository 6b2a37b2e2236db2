// Command guest is the test program of package interrupt. Built as a
// reactor it serves the actions below through the Go SDK; built as a
// command it runs the action named by its first argument and prints the
// result.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	gureum "github.com/gureum/gureum/sdk/go"
)

type event struct {
	Action string            `json:"action"`
	N      int               `json:"n,omitempty"`
	Name   string            `json:"name,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	Values []int             `json:"values,omitempty"`
}

type result struct {
	Event *event `json:"event,omitempty"`
	Sum   int    `json:"sum,omitempty"`
	Work  string `json:"work,omitempty"`
}

var sink int

//go:noinline
func add(a, b int) int { return a + b }

func handle(_ context.Context, ev event) (result, error) {
	switch ev.Action {
	case "echo":
		return result{Event: &ev}, nil
	case "loop":
		for {
		}
	case "calls":
		for {
			sink = add(sink, 1)
		}
	case "sum":
		return result{Sum: sum(ev.N)}, nil
	case "work":
		return result{Work: work()}, nil
	}
	return result{}, fmt.Errorf("unknown action %q", ev.Action)
}

// sum adds the integers below n: a tight loop, one back-edge per number.
func sum(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i
	}
	return s
}

// work does a bit of everything a real function does and describes the
// outcome; the description is the same on every run.
func work() string {
	var lines []string

	// JSON both ways.
	type item struct {
		ID    int      `json:"id"`
		Name  string   `json:"name"`
		Tags  []string `json:"tags"`
		Score float64  `json:"score"`
	}
	items := make([]item, 200)
	for i := range items {
		items[i] = item{ID: i, Name: fmt.Sprintf("item-%03d", i), Tags: []string{"a", strings.Repeat("b", i%7)}, Score: float64(i) / 3}
	}
	doc, err := json.Marshal(items)
	if err != nil {
		return "marshal: " + err.Error()
	}
	var back []item
	if err := json.Unmarshal(doc, &back); err != nil {
		return "unmarshal: " + err.Error()
	}
	h := sha256.Sum256(doc)
	lines = append(lines, fmt.Sprintf("json %d bytes %d items %s", len(doc), len(back), hex.EncodeToString(h[:8])))

	// Maps.
	counts := map[string]int{}
	for i := 0; i < 100000; i++ {
		counts[fmt.Sprint(i%1000)] += i
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		total += counts[k]
	}
	lines = append(lines, fmt.Sprintf("map %d keys first %s=%d total %d", len(keys), keys[0], counts[keys[0]], total))

	// Goroutines talking over channels, with sleeps in between.
	var wg sync.WaitGroup
	results := make([]int, 8)
	ch := make(chan int)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range ch {
				results[g] += v
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for i := 0; i < 64; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
	all := 0
	for _, r := range results {
		all += r
	}
	lines = append(lines, fmt.Sprintf("goroutines total %d", all))

	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	lines = append(lines, fmt.Sprintf("slept at least 20ms: %v", time.Since(start) >= 20*time.Millisecond))

	// Garbage, collected.
	var kept [][]byte
	for i := 0; i < 2000; i++ {
		b := make([]byte, 16<<10)
		b[0] = byte(i)
		if i%100 == 0 {
			kept = append(kept, b)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	lines = append(lines, fmt.Sprintf("gc ran: %v kept %d", ms.NumGC > 0, len(kept)))

	// One big allocation, touched.
	big := make([]byte, 96<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = byte(i >> 12)
	}
	bs := 0
	for i := 0; i < len(big); i += 4096 {
		bs += int(big[i])
	}
	lines = append(lines, fmt.Sprintf("big %d MiB sum %d", len(big)>>20, bs))
	lines = append(lines, fmt.Sprintf("sum %d", sum(10_000_000)))
	return strings.Join(lines, "\n")
}

func main() {
	if len(os.Args) > 1 {
		// Run as a command.
		out, err := handle(context.Background(), event{Action: os.Args[1], N: 1000})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(out.Work, out.Sum)
		return
	}
	gureum.Start(handle)
}

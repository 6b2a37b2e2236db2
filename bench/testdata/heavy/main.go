// Command heavy is the heavy-initialization function of the snapshot
// benchmarks (bench rows 17 and 19): its package initialization builds a
// 20,000-entry map, as a function that loads a dictionary or a routing
// table when it starts does, and its handler answers {"size": N}, the
// map's size plus the event's n, so that a caller can tell the map was
// built.
package main

import (
	"context"
	"strconv"

	gureum "github.com/gureum/gureum/sdk/go"
)

// index is built while the package initializes, before the first request.
var index = buildIndex(20000)

func buildIndex(n int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m["entry-"+strconv.Itoa(i)] = i
	}
	return m
}

type event struct {
	N int `json:"n"`
}

type result struct {
	Size int `json:"size"`
}

func handler(_ context.Context, ev event) (result, error) {
	return result{Size: len(index) + ev.N}, nil
}

func main() {
	gureum.Start(handler)
}

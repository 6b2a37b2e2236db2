// Command kvfn is the function of the table benchmark (bench row 16). Its
// event is {"op": "get"|"put"|"noop", "key": KEY}: get reads the item KEY of
// the table bench, put writes a small JSON value under KEY, and noop calls
// nothing, so the benchmark can tell the host call's cost from the
// invocation's. Each answers {"revision": N} (0 for noop).
package main

import (
	"context"
	"encoding/json"
	"fmt"

	gureum "github.com/gureum/gureum/sdk/go"
)

type event struct {
	Op  string `json:"op"`
	Key string `json:"key"`
}

type result struct {
	Revision uint64 `json:"revision"`
}

// value is what a put writes: a small JSON document (77 bytes).
var value = json.RawMessage(`{"id":"item","count":42,"tags":["bench","table"],"note":"a small JSON value"}`)

var table = gureum.Table("bench")

func handler(ctx context.Context, ev event) (result, error) {
	switch ev.Op {
	case "get":
		it, err := table.Get(ctx, ev.Key)
		if err != nil {
			return result{}, err
		}
		return result{Revision: it.Revision}, nil
	case "put":
		rev, err := table.Put(ctx, ev.Key, value)
		if err != nil {
			return result{}, err
		}
		return result{Revision: rev}, nil
	case "noop":
		return result{}, nil
	}
	return result{}, fmt.Errorf("unknown op %q; want get, put or noop", ev.Op)
}

func main() {
	gureum.Start(handler)
}

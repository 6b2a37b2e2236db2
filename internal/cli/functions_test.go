package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/admin/admintest"
	"github.com/gureum/gureum/internal/registry"
)

// functionsNode answers the admin API's function listing with fixed
// functions; the rest is the admintest events fake.
type functionsNode struct {
	*admintest.Events
	fns []admin.FunctionInfo
}

func (f *functionsNode) Functions(context.Context) ([]admin.FunctionInfo, error) {
	return f.fns, nil
}

func (f *functionsNode) Function(_ context.Context, name string) (*admin.FunctionInfo, error) {
	for i := range f.fns {
		if f.fns[i].Name == name {
			return &f.fns[i], nil
		}
	}
	return nil, fmt.Errorf("function %s: %w", name, registry.ErrNotFound)
}

// TestLsSnapshot checks the SNAPSHOT column of gureum ls: the state, a
// failure's reason on one shortened line, "-" when the node reports none,
// and the whole reason in -o json.
func TestLsSnapshot(t *testing.T) {
	reason := "warm-up failed: the function returned an error:\n\t" + strings.Repeat("no such table orders; ", 5)
	fn := func(name, runtime string, snap *admin.SnapshotInfo) admin.FunctionInfo {
		return admin.FunctionInfo{
			Name: name, Latest: 1, Runtime: runtime, MemoryMiB: 128, Timeout: "3s",
			UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Snapshot: snap,
			Routes: []registry.Route{{Method: "GET", Path: "/" + name}},
		}
	}
	node := &functionsNode{Events: admintest.NewEvents(), fns: []admin.FunctionInfo{
		fn("api", "wasm", &admin.SnapshotInfo{State: "ready"}),
		fn("cold", "wasm", nil),
		fn("broken", "wasm", &admin.SnapshotInfo{State: "failed", Reason: reason}),
		fn("proc", "process", &admin.SnapshotInfo{State: "off"}),
	}}
	g := serve(t, node)

	out := g.ok("ls")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("ls printed %d lines, want a header and 4 functions:\n%s", len(lines), out)
	}
	header := lines[0]
	col := strings.Index(header, "SNAPSHOT")
	routes := strings.Index(header, "ROUTES")
	if col < 0 || routes < col {
		t.Fatalf("header %q has no SNAPSHOT column before ROUTES", header)
	}
	want := map[string]string{
		"api":    "ready",
		"cold":   "-",
		"broken": "failed: warm-up failed: the function returned a…",
		"proc":   "off",
	}
	for _, line := range lines[1:] {
		name := strings.Fields(line)[0]
		r := []rune(line) // the table aligns runes; the header is ASCII
		cell := strings.TrimSpace(string(r[col:routes]))
		if cell != want[name] {
			t.Errorf("%s: SNAPSHOT %q, want %q", name, cell, want[name])
		}
		if got := string(r[routes:]); got != "GET /"+name {
			t.Errorf("%s: ROUTES %q, want GET /%s", name, got, name)
		}
	}

	var fns []admin.FunctionInfo
	if err := json.Unmarshal([]byte(g.ok("ls", "-o", "json")), &fns); err != nil {
		t.Fatal(err)
	}
	if len(fns) != 4 || fns[1].Snapshot != nil || fns[2].Snapshot == nil || fns[2].Snapshot.State != "failed" || fns[2].Snapshot.Reason != reason {
		t.Errorf("ls -o json snapshots = %+v, want the node's, the reason whole", fns)
	}
	if strings.Contains(g.ok("ls", "-o", "json"), `"snapshot":null`) {
		t.Error("ls -o json writes a null snapshot; want it left out")
	}
}

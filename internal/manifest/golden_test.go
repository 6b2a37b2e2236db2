package manifest

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden parses every testdata/*.yaml, each an invalid manifest, and
// compares the error text with the .golden file beside it.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.yaml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			proj, err := Parse("gureum.yaml", data)
			if err == nil {
				t.Fatalf("Parse succeeded (%d functions); every golden input is invalid", len(proj.Functions))
			}
			if proj != nil {
				t.Error("Parse returned a Project with an error")
			}
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("error is %T, want *Error: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s (run go test -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that it is deterministic, that
// it returns either a Project whose routes are valid or an *Error, and that
// every problem has a position (line ≥ 1; column ≥ 1 except for YAML syntax
// errors, whose column the YAML parser does not report).
func FuzzParse(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("app: shop\nfunctions:\n  api:\n    build: ./api\n    events:\n      - http: GET /orders/{id}\n"))
	f.Add([]byte("app: t\nx-d: &d {memory: 256}\nfunctions:\n  a: {<<: *d, build: ./a, env: {A: 1}}\n"))
	f.Add([]byte("app: t\nfunctions:\n  p: {runtime: process, handler: ./h, timeout: 90, concurrency: 2, provisioned: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("gureum.yaml", data)
		if _, again := Parse("gureum.yaml", data); (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("Parse is not deterministic: %v, then %v", err, again)
		}
		if err == nil {
			if p == nil {
				t.Fatal("nil Project and nil error")
			}
			for _, fn := range p.Functions {
				for _, ev := range fn.Events {
					if ev.HTTP == nil {
						t.Fatalf("function %s has an event of no kind", fn.Name)
					}
					if _, err := ParseRoutePath(ev.HTTP.Path); err != nil {
						t.Fatalf("accepted route %q: %v", ev.HTTP.Path, err)
					}
				}
			}
			return
		}
		if p != nil {
			t.Fatal("a Project with an error")
		}
		var merr *Error
		if !errors.As(err, &merr) {
			t.Fatalf("error is %T, want *Error: %v", err, err)
		}
		if len(merr.Problems) == 0 {
			t.Fatal("*Error with no problems")
		}
		for _, pr := range merr.Problems {
			if pr.Line < 1 || pr.Column < 0 || pr.Message == "" {
				t.Fatalf("problem without a position or message: %+v", pr)
			}
			if pr.Column == 0 && !isSyntaxProblem(pr) {
				t.Fatalf("problem without a column: %+v", pr)
			}
		}
	})
}

func isSyntaxProblem(p Problem) bool {
	return strings.HasPrefix(p.Message, "YAML syntax error:")
}

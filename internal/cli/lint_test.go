package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/cli"
	"github.com/gureum/gureum/internal/lint"
)

// lintProject writes a project with one function, api, whose code reads
// table orders and publishes to topic events.
func lintProject(t *testing.T, permissions string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := "app: shop\nfunctions:\n  api:\n    build: ./api\n    permissions:\n" + permissions
	code := `package main

import (
	"context"

	gureum "github.com/gureum/gureum/sdk/go"
)

func handle(ctx context.Context) {
	gureum.Table("orders").Get(ctx, "k")
	gureum.Publish(ctx, "events", "m")
}
`
	if err := os.MkdirAll(filepath.Join(dir, "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gureum.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api", "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runLint(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = cli.Run(ctx, append([]string{"lint"}, args...), cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Dir: dir})
	return code, out.String(), errb.String()
}

func TestLintClean(t *testing.T) {
	dir := lintProject(t, "      tables: [orders:r]\n      publish: [events]\n")
	code, out, errs := runLint(t, dir)
	if code != 0 || out != "" || errs != "gureum.yaml: 1 functions, no grant broader than their code needs\n" {
		t.Fatalf("lint: exit %d, stdout %q, stderr %q; want 0, no findings and the summary", code, out, errs)
	}
	code, out, _ = runLint(t, dir, "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("lint -o json: exit %d, stdout %q; want 0 and []", code, out)
	}
}

func TestLintWarnings(t *testing.T) {
	dir := lintProject(t, "      tables: [orders:rw]\n      publish: [\"*\"]\n")
	// From the parent directory, with the project as an argument.
	code, out, errs := runLint(t, filepath.Dir(dir), filepath.Base(dir))
	want := filepath.Join(filepath.Base(dir), "gureum.yaml") + ":6: unused-write: function api only reads table orders (api/main.go:10), but orders:rw also allows writing: grant orders:r instead\n" +
		filepath.Join(filepath.Base(dir), "gureum.yaml") + ":7: wildcard-grant: function api is granted every topic (*); its code uses only these: grant publish: [events] instead\n"
	if code != 0 || out != want || errs != filepath.Join(filepath.Base(dir), "gureum.yaml")+": 2 findings\n" {
		t.Fatalf("lint: exit %d, stderr %q, stdout\n%s\nwant exit 0 and\n%s", code, errs, out, want)
	}
}

func TestLintErrors(t *testing.T) {
	dir := lintProject(t, "      tables: [orders:w]\n")
	code, out, errs := runLint(t, dir)
	if code != 1 {
		t.Fatalf("lint: exit %d, want 1; stdout %q, stderr %q", code, out, errs)
	}
	wantOut := "gureum.yaml:5: missing-grant: function api publishes to topic events (api/main.go:11) but has no grant for it, so the call will be refused: add permissions: {publish: [events]}\n" +
		"gureum.yaml:6: missing-grant: function api reads table orders (api/main.go:10), which orders:w does not allow, so the call will be refused: grant orders:r\n"
	if out != wantOut {
		t.Errorf("stdout:\n%s\nwant\n%s", out, wantOut)
	}
	if !strings.Contains(errs, "2 findings are errors") {
		t.Errorf("stderr %q does not count the errors", errs)
	}

	code, out, _ = runLint(t, dir, "-o", "json")
	var fs []lint.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("lint -o json: %v\n%s", err, out)
	}
	if code != 1 || len(fs) != 2 || fs[1].Severity != lint.Error || fs[1].Code != lint.CodeMissingGrant || fs[1].Grant != "orders:w" || fs[1].Kind != "tables" || fs[1].Line != 6 || fs[1].Function != "api" {
		t.Errorf("lint -o json: exit %d, findings %+v", code, fs)
	}
}

func TestLintBadManifest(t *testing.T) {
	dir := lintProject(t, "      tables: [orders]\n")
	code, out, errs := runLint(t, dir)
	if code != 1 || out != "" || !strings.Contains(errs, "gureum.yaml:6:16: functions.api.permissions.tables[0]: orders has no mode") {
		t.Fatalf("lint: exit %d, stdout %q, stderr %q; want 1 and the manifest's problem", code, out, errs)
	}
	if code, _, errs := runLint(t, dir, "-o", "yaml"); code != 1 || !strings.Contains(errs, "want text or json") {
		t.Fatalf("lint -o yaml: exit %d, stderr %q", code, errs)
	}
}

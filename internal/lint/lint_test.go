package lint_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/lint"
	"github.com/gureum/gureum/internal/manifest"
)

// writeProject writes files (path → content) into a temporary directory
// and loads its gureum.yaml.
func writeProject(t *testing.T, files map[string]string) *manifest.Project {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	p, err := manifest.Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

// want is a finding expected by its fields and a part of its message.
type want struct {
	sev      lint.Severity
	code     string
	function string
	grant    string
	line     int
	msg      string
}

func (w want) String() string {
	return fmt.Sprintf("%s %s %s grant=%q line=%d %q", w.sev, w.code, w.function, w.grant, w.line, w.msg)
}

func (w want) matches(f lint.Finding) bool {
	return f.Severity == w.sev && f.Code == w.code && f.Function == w.function && f.Grant == w.grant && f.Line == w.line && strings.Contains(f.Message, w.msg)
}

// expect checks that the findings are exactly those wanted, in order.
func expect(t *testing.T, got []lint.Finding, wants ...want) {
	t.Helper()
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		ok = wants[i].matches(got[i])
	}
	if ok {
		return
	}
	var b strings.Builder
	for _, f := range got {
		fmt.Fprintf(&b, "  %s %s %s grant=%q line=%d %q\n", f.Severity, f.Code, f.Function, f.Grant, f.Line, f.Message)
	}
	var w strings.Builder
	for _, x := range wants {
		fmt.Fprintf(&w, "  %s\n", x)
	}
	t.Errorf("findings:\n%swant:\n%s", b.String(), w.String())
}

const sdk = `gureum "github.com/gureum/gureum/sdk/go"`

func TestCleanProject(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  api:
    build: ./api
    env: {TABLE: orders}
    permissions:
      tables: [orders:rw, audit:r]
      buckets: [uploads:r]
      publish: [order-events]
      send: [jobs]
      http: [api.example.com]
  plain:
    build: ./plain
`,
		"api/main.go": `package main

import (
	"context"
	"os"

	` + sdk + `
)

var orders = gureum.Table(os.Getenv("TABLE"))

const auditTable = "audit"

func handle(ctx context.Context) error {
	if _, err := orders.Get(ctx, "k"); err != nil {
		return err
	}
	if err := orders.PutJSON(ctx, "k", 1); err != nil {
		return err
	}
	a := gureum.Table(auditTable)
	a.List(ctx, "")
	gureum.Bucket("uploads").Get(ctx, "x")
	gureum.Publish(ctx, "order-events", "m")
	gureum.Send(ctx, "jobs", "b")
	c := gureum.HTTPClient()
	c.Get("https://api.example.com/v1/rates")
	return nil
}

func main() { gureum.Start(handle) }
`,
		"plain/main.go": "package main\n\nfunc main() {}\n",
	})
	expect(t, lint.Lint(p, lint.GoSource{}))
}

func TestWildcards(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  api:
    build: ./api
    permissions:
      tables: ["*:rw"]
      buckets: ["*:r"]
      publish: ["*"]
      http: ["*", "*.example.org"]
tables: {orders: {}}
`,
		"api/main.go": `package main

import (
	"context"
	"net/http"

	` + sdk + `
)

const hook = "https://hooks.example.org/in"

func handle(ctx context.Context) {
	gureum.Table("orders").Put(ctx, "k", nil)
	gureum.Table("audit").Get(ctx, "k")
	name := pick()
	gureum.Bucket(name).Get(ctx, "k")
	http.Post(hook, "text/plain", nil)
	_ = "http://localhost:9000/x"
}
`,
	})
	expect(t, lint.Lint(p, lint.GoSource{}),
		want{lint.Warning, lint.CodeWildcardGrant, "api", "*:rw", 6, "its code uses only these: grant tables: [audit:r, orders:w] instead"},
		want{lint.Warning, lint.CodeWildcardGrant, "api", "*:r", 7, "name the buckets it uses instead, the ones it names at api/main.go:16, which lint cannot follow"},
		want{lint.Warning, lint.CodeWildcardGrant, "api", "*", 8, "its code uses none: remove the grant"},
		want{lint.Warning, lint.CodeWildcardGrant, "api", "*", 9, "grant http: [hooks.example.org, localhost:9000] instead"},
		want{lint.Warning, lint.CodeWildcardGrant, "api", "*.example.org", 9, "every subdomain of example.org (*.example.org); its code and env name only these: grant http: [hooks.example.org] instead"},
	)
}

func TestUnusedWriteAndGrant(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  api:
    build: ./api
    permissions:
      tables:
        - orders:rw
        - audit:rw
        - sessions:rw
      buckets: [thumbs:w, uploads:rw]
      send: [jobs]
      http: [api.example.com]
`,
		"api/main.go": `package main

import (
	"context"

	` + sdk + `
)

type store struct{ t *gureum.TableRef }

func handle(ctx context.Context) {
	s := store{t: gureum.Table("orders")}
	s.t.GetJSON(ctx, "k", nil)
	gureum.Table("audit").Delete(ctx, "k")
	keep(gureum.Table("sessions"))
	u := gureum.Bucket("uploads")
	u.List(ctx, "")
}

func keep(t *gureum.TableRef) { t.Put(context.Background(), "k", nil) }
`,
	})
	expect(t, lint.Lint(p, lint.GoSource{}),
		want{lint.Warning, lint.CodeUnusedWrite, "api", "orders:rw", 7, "function api only reads table orders (api/main.go:13), but orders:rw also allows writing: grant orders:r instead"},
		want{lint.Warning, lint.CodeUnusedRead, "api", "audit:rw", 8, "grant audit:w instead"},
		want{lint.Warning, lint.CodeUnusedGrant, "api", "thumbs:w", 10, "never uses bucket thumbs: remove the grant"},
		want{lint.Warning, lint.CodeUnusedWrite, "api", "uploads:rw", 10, "grant uploads:r instead"},
		want{lint.Warning, lint.CodeUnusedGrant, "api", "jobs", 11, "never uses queue jobs"},
		want{lint.Warning, lint.CodeUnusedGrant, "api", "api.example.com", 12, "makes no HTTP request"},
	)
}

func TestEnvResolvedNames(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  api:
    build: ./api
    env: {TABLE: orders, BUCKET: uploads, TOPIC: events, PREFIX: shop}
    permissions:
      tables: [orders:r]
      buckets: [uploads:rw]
      publish: [shop-events]
`,
		"api/main.go": `package main

import (
	"context"
	"os"

	` + sdk + `
)

var table = os.Getenv("TABLE")

func handle(ctx context.Context) {
	gureum.Table(table).Put(ctx, "k", nil)
	name, ok := os.LookupEnv("BUCKET")
	if !ok {
		return
	}
	b := gureum.Bucket(name)
	b.Put(ctx, "k", nil)
	b.Get(ctx, "k")
	topic := os.Getenv("PREFIX") + "-" + os.Getenv("TOPIC")
	gureum.Publish(ctx, topic, "m")
	gureum.Send(ctx, "jobs", "m")
}
`,
	})
	got := lint.Lint(p, lint.GoSource{})
	expect(t, got,
		want{lint.Error, lint.CodeMissingGrant, "api", "", 6, "function api sends to queue jobs (api/main.go:23) but has no grant for it, so the call will be refused: add permissions: {send: [jobs]}"},
		want{lint.Error, lint.CodeMissingGrant, "api", "orders:r", 7, "function api writes table orders (api/main.go:13), which orders:r does not allow, so the call will be refused: grant orders:w"},
	)
	if !lint.Errors(got) {
		t.Error("Errors = false")
	}
}

func TestBucketTrigger(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  resize:
    build: ./resize
    permissions:
      buckets: [thumbs:w]
    events:
      - bucket: uploads
  archive:
    build: ./archive
    permissions:
      buckets: [uploads:r]
    events:
      - bucket: {name: uploads, on: [removed]}
  ok:
    build: ./ok
    permissions:
      buckets: [thumbs:w, inbox:r]
    events:
      - bucket: {name: inbox}
`,
		"resize/main.go": `package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	` + sdk + `
)

func handle(ctx context.Context, e events.S3Event) error {
	for _, r := range e.Records {
		obj, err := gureum.Bucket(r.S3.Bucket.Name).Get(ctx, r.S3.Object.Key)
		if err != nil {
			return err
		}
		_ = obj
		gureum.Bucket("thumbs").Put(ctx, r.S3.Object.Key, nil)
	}
	return nil
}
`,
		"archive/main.go": "package main\n\nfunc main() {}\n",
		"ok/main.go": `package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	` + sdk + `
)

func handle(ctx context.Context, e events.S3Event) {
	r := e.Records[0]
	gureum.Bucket(r.S3.Bucket.Name).Get(ctx, r.S3.Object.Key)
	gureum.Bucket("thumbs").PutObject(ctx, "k", nil)
}
`,
	})
	expect(t, lint.Lint(p, lint.GoSource{}),
		want{lint.Warning, lint.CodeMissingGrant, "resize", "", 5, "receiving the events of uploads needs no grant, but reading its objects does: add permissions: {buckets: [uploads:r]}"},
		want{lint.Warning, lint.CodeUnusedGrant, "archive", "uploads:r", 12, "receiving the events of bucket uploads needs no grant"},
		want{lint.Info, lint.CodeDynamicName, "ok", "", 17, "its buckets grants are not checked for use"},
	)
}

func TestNoSource(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  mod:
    artifact: ./mod.wasm
    permissions: {tables: ["*:r"], buckets: [uploads:r]}
  legacy:
    runtime: process
    handler: ./bin/bootstrap
    permissions: {send: [jobs]}
  none:
    artifact: ./mod.wasm
tables: {orders: {}, audit: {}}
`,
		"mod.wasm":      "\x00asm\x01\x00\x00\x00",
		"bin/bootstrap": "#!/bin/sh\n",
	})
	expect(t, lint.Lint(p, lint.GoSource{}),
		want{lint.Info, lint.CodeNoSource, "mod", "", 3, "runs the artifact mod.wasm, whose source lint cannot read"},
		want{lint.Warning, lint.CodeWildcardGrant, "mod", "*:r", 5, "the project declares orders, audit"},
		want{lint.Info, lint.CodeNoSource, "legacy", "", 6, "runs the handler bin/bootstrap"},
	)
}

func TestS3SDK(t *testing.T) {
	p := writeProject(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  proc:
    runtime: process
    build: ./proc
    env: {BUCKET: uploads}
    permissions: {buckets: [uploads:rw, logs:r]}
`,
		"proc/main.go": `package main

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func handle(ctx context.Context, c *s3.Client) {
	bucket := os.Getenv("BUCKET")
	c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket})
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("logs")})
}
`,
	})
	expect(t, lint.Lint(p, lint.GoSource{}),
		want{lint.Error, lint.CodeMissingGrant, "proc", "logs:r", 7, "writes bucket logs (proc/main.go:15), which logs:r does not allow"},
	)
}

// staticIndex is a SourceIndex with fixed answers.
type staticIndex map[string]*lint.Source

func (s staticIndex) Source(fn *manifest.Function) (*lint.Source, error) {
	if src, ok := s[fn.Name]; ok {
		return src, nil
	}
	return nil, fmt.Errorf("function %s: %w", fn.Name, lint.ErrNoSource)
}

func TestSourceIndex(t *testing.T) {
	p, err := manifest.Parse("gureum.yaml", []byte("app: t\nfunctions:\n  a:\n    build: ./a\n    permissions: {tables: [t1:rw]}\n  b:\n    build: ./b\n    permissions: {send: [q]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	idx := staticIndex{"a": {Uses: []lint.Use{{Kind: lint.Table, Names: []string{"t1"}, Access: lint.Read | lint.Write}}}}
	expect(t, lint.Lint(p, idx),
		want{lint.Info, lint.CodeNoSource, "b", "", 6, "has no Go source to read"},
	)
	idx["b"] = &lint.Source{Uses: []lint.Use{{Kind: lint.Queue, Access: lint.Write}}}
	expect(t, lint.Lint(p, idx),
		want{lint.Info, lint.CodeDynamicName, "b", "", 8, "its send grants are not checked"},
	)
	if _, err := (lint.GoSource{}).Source(p.Function("a")); err == nil || errors.Is(err, lint.ErrNoSource) {
		t.Errorf("GoSource of a missing directory: %v, want a read error", err)
	}
	if _, err := (lint.GoSource{}).Source(&manifest.Function{Name: "x", Artifact: "x.wasm"}); !errors.Is(err, lint.ErrNoSource) {
		t.Errorf("GoSource of an artifact: %v, want ErrNoSource", err)
	}
}

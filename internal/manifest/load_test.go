package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// project writes files (name → content) into a new temp dir. A name ending
// in '/' is a directory; content "+x" makes an executable script.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if content == "+x" {
			content, mode = "#!/bin/sh\n", 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const wasmHeader = "\x00asm\x01\x00\x00\x00"

func TestLoad(t *testing.T) {
	dir := project(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  api:
    build: ./api
    events:
      - http: GET /hello
  mod:
    artifact: ./dist/mod.wasm
  proc:
    runtime: process
    handler: ./bin/bootstrap
  native:
    runtime: process
    build: ./cmd/native
`,
		"api/main.go":        "package main\n",
		"dist/mod.wasm":      wasmHeader,
		"bin/bootstrap":      "+x",
		"cmd/native/main.go": "package main\n",
	})
	for _, path := range []string{dir, filepath.Join(dir, FileName)} {
		p, err := Load(path)
		if err != nil {
			t.Fatalf("Load(%s): %v", path, err)
		}
		if p.Dir != dir || p.File != filepath.Join(dir, FileName) {
			t.Errorf("Dir, File = %s, %s; want %s and the manifest in it", p.Dir, p.File, dir)
		}
		want := map[string]string{
			"api":    filepath.Join(dir, "api"),
			"mod":    filepath.Join(dir, "dist", "mod.wasm"),
			"proc":   filepath.Join(dir, "bin", "bootstrap"),
			"native": filepath.Join(dir, "cmd", "native"),
		}
		for name, path := range want {
			f := p.Function(name)
			if got := f.Build + f.Artifact + f.Handler; got != path {
				t.Errorf("%s: code at %q, want %q", name, got, path)
			}
		}
		if h := p.Function("proc").handlerName; h != "bin/bootstrap" {
			t.Errorf("handler name = %q, want bin/bootstrap", h)
		}
	}
}

func TestLoadFindsManifest(t *testing.T) {
	yml := project(t, map[string]string{AltFileName: "app: t\nfunctions: {a: {build: ./a}}\n", "a/a.go": "package main\n"})
	if p, err := Load(yml); err != nil || p.File != filepath.Join(yml, AltFileName) {
		t.Errorf("Load with gureum.yml: %v", err)
	}
	both := project(t, map[string]string{FileName: "", AltFileName: ""})
	if _, err := Load(both); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("Load with both names: err = %v, want an ambiguity error", err)
	}
	none := project(t, nil)
	if _, err := Load(none); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of an empty dir: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := Load(filepath.Join(none, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadChecksFiles(t *testing.T) {
	dir := project(t, map[string]string{
		"gureum.yaml": `app: shop
functions:
  nodir:
    build: ./nodir
  tests-only:
    build: ./tests
  file-build:
    build: ./file.go
  nowasm:
    artifact: ./missing.wasm
  notwasm:
    artifact: ./native.bin
  dir-artifact:
    artifact: ./tests
  noexec:
    runtime: process
    handler: ./script.sh
  dir-handler:
    runtime: process
    handler: ./tests
  nohandler:
    runtime: process
    handler: ./bootstrap
  bad:
    build: ./ok
    memory: 1
`,
		"tests/x_test.go": "package x\n",
		"tests/sub/":      "",
		"file.go":         "package main\n",
		"native.bin":      "\x7fELF",
		"script.sh":       "#!/bin/sh\n",
		"ok/main.go":      "package main\n",
	})
	_, err := Load(dir)
	var merr *Error
	if !errors.As(err, &merr) {
		t.Fatalf("Load error = %v, want *Error", err)
	}
	want := []struct {
		line int
		path string
		msg  string
	}{
		{4, "functions.nodir.build", "does not exist"},
		{6, "functions.tests-only.build", "holds no Go files"},
		{8, "functions.file-build.build", "is a file"},
		{10, "functions.nowasm.artifact", "does not exist"},
		{12, "functions.notwasm.artifact", "not a WebAssembly module"},
		{14, "functions.dir-artifact.artifact", "not a file"},
		{17, "functions.noexec.handler", "chmod +x ./script.sh"},
		{20, "functions.dir-handler.handler", "not a file"},
		{23, "functions.nohandler.handler", "does not exist"},
		{26, "functions.bad.memory", "out of range"},
	}
	if len(merr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(merr.Problems), len(want), err)
	}
	for i, w := range want {
		if i >= len(merr.Problems) {
			break
		}
		p := merr.Problems[i]
		if p.Line != w.line || p.Path != w.path || !strings.Contains(p.Message, w.msg) {
			t.Errorf("problem %d = %v; want line %d, %s, containing %q", i, p, w.line, w.path, w.msg)
		}
		if p.File != filepath.Join(dir, FileName) {
			t.Errorf("problem %d file = %s", i, p.File)
		}
	}
}

func TestLoadTooLarge(t *testing.T) {
	dir := project(t, map[string]string{FileName: "app: t\n# " + strings.Repeat("x", maxFileSize) + "\n"})
	_, err := Load(dir)
	var merr *Error
	if !errors.As(err, &merr) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load error = %v, want the size problem", err)
	}
}

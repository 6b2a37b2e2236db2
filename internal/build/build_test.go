package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writePackage writes a main package with its own module into a new
// directory.
func writePackage(t *testing.T, main string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/fn\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const program = `package main

import "fmt"

//go:wasmexport answer
func answer() int32 { return 42 }

func main() { fmt.Println("built natively") }
`

func TestGoWasm(t *testing.T) {
	t.Parallel()
	dir := writePackage(t, program)
	out := filepath.Join(t.TempDir(), "fn.wasm")
	if err := Go(context.Background(), Options{Dir: dir, Output: out, Target: TargetWasm, Env: os.Environ()}); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bin, []byte("\x00asm")) {
		t.Fatalf("output is not a wasm module: % x", bin[:min(8, len(bin))])
	}
	// A reactor exports _initialize, a command _start.
	if !bytes.Contains(bin, []byte("_initialize")) || bytes.Contains(bin, []byte("\x06_start")) {
		t.Error("output is not a WASI reactor")
	}
}

func TestGoNative(t *testing.T) {
	t.Parallel()
	dir := writePackage(t, program)
	out := filepath.Join(t.TempDir(), "bootstrap")
	if err := Go(context.Background(), Options{Dir: dir, Output: out, Target: TargetNative, Env: os.Environ()}); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "built natively\n" {
		t.Errorf("program printed %q", got)
	}
}

func TestGoReportsCompilerOutput(t *testing.T) {
	t.Parallel()
	dir := writePackage(t, "package main\n\nfunc main() { undefinedThing() }\n")
	err := Go(context.Background(), Options{Dir: dir, Output: filepath.Join(t.TempDir(), "x"), Target: TargetNative, Env: os.Environ()})
	if !errors.Is(err, ErrBuild) {
		t.Fatalf("error %v, want ErrBuild", err)
	}
	for _, want := range []string{"main.go:3", "undefined: undefinedThing", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestGoWithoutToolchain(t *testing.T) {
	t.Parallel()
	err := Go(context.Background(), Options{Dir: t.TempDir(), Output: "x", Target: TargetWasm, Env: []string{"PATH=" + t.TempDir()}})
	if err == nil || !strings.Contains(err.Error(), "go not found in PATH") {
		t.Errorf("error %v, want go not found", err)
	}
}

func TestGoRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{Output: "x", Target: TargetWasm},
		{Dir: ".", Target: TargetWasm},
		{Dir: ".", Output: "x", Go: "go"},
	} {
		if err := Go(context.Background(), opts); err == nil || errors.Is(err, ErrBuild) {
			t.Errorf("%+v: error %v", opts, err)
		}
	}
}

func TestHashFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("gureum"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// printf gureum | sha256sum
	if want := "475b6e745d91ef9bad9a84849af6ea8256fe6adced479c37edf7dd324b13b705"; got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
	if _, err := HashFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("hash of a missing file")
	}
}

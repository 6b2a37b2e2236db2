package manifest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"go.yaml.in/yaml/v3"
)

// wasmMagic starts every WebAssembly binary module.
var wasmMagic = []byte("\x00asm")

// checkBuildDir checks that a build setting names a directory holding Go files.
func (p *parser) checkBuildDir(n *yaml.Node, sp, dir string) {
	fi, err := os.Stat(dir)
	if err != nil {
		p.fileProblem(n, sp, err, "the Go package's directory, e.g. build: ./api")
		return
	}
	if !fi.IsDir() {
		p.add(n, sp, n.Value+" is a file; build names a Go package's directory (for a ready module use artifact: "+n.Value+")")
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.add(n, sp, "cannot read "+n.Value+": "+errText(err)+"; make the directory readable")
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !e.IsDir() {
			return
		}
	}
	p.add(n, sp, n.Value+" holds no Go files; point build at the directory of the function's main package, e.g. build: ./api")
}

// checkArtifact checks that an artifact setting names a wasm module.
func (p *parser) checkArtifact(n *yaml.Node, sp, file string) {
	f, err := os.Open(file)
	if err != nil {
		p.fileProblem(n, sp, err, "a .wasm module, e.g. artifact: ./api.wasm, or build it from Go with build: ./api")
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		p.add(n, sp, n.Value+" is not a file; artifact names a .wasm module, e.g. artifact: ./api.wasm")
		return
	}
	head := make([]byte, len(wasmMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, wasmMagic) {
		p.add(n, sp, n.Value+" is not a WebAssembly module (it does not start with \\0asm); build one, e.g. GOOS=wasip1 GOARCH=wasm go build -o api.wasm, or use build: ./api")
	}
}

// checkHandler checks that a handler setting names an executable file.
func (p *parser) checkHandler(n *yaml.Node, sp, file string) {
	fi, err := os.Stat(file)
	if err != nil {
		p.fileProblem(n, sp, err, "an executable in the project, e.g. handler: ./bootstrap")
		return
	}
	if !fi.Mode().IsRegular() {
		p.add(n, sp, n.Value+" is not a file; handler names an executable or script, e.g. handler: ./bootstrap")
		return
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		p.add(n, sp, n.Value+" is not executable; make it so, e.g. chmod +x "+n.Value)
	}
}

func (p *parser) fileProblem(n *yaml.Node, sp string, err error, want string) {
	if errors.Is(err, fs.ErrNotExist) {
		p.add(n, sp, n.Value+" does not exist (paths are relative to the manifest's directory); create it or name "+want)
		return
	}
	p.add(n, sp, "cannot use "+n.Value+": "+errText(err)+"; name "+want)
}

// errText is an error without the path that the problem already names.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// Names Load looks for in a project directory.
const (
	FileName    = "gureum.yaml"
	AltFileName = "gureum.yml"
)

// Defaults applied to settings a manifest leaves out.
const (
	DefaultRuntime = RuntimeWasm
	DefaultMemory  = 128 // MiB
	DefaultTimeout = 3 * time.Second
	DefaultMethod  = "ANY"
	DefaultAuth    = AuthNone
)

// Runtimes.
const (
	RuntimeWasm    = registry.RuntimeWasm
	RuntimeProcess = registry.RuntimeProcess
)

// Route auth modes.
const (
	AuthNone = "none"
)

// Project is a valid manifest.
type Project struct {
	App       string
	Dir       string      // directory holding the manifest; absolute when loaded with Load
	File      string      // the manifest file; absolute when loaded with Load
	Functions []*Function // in file order
}

// Function returns the function called name, or nil.
func (p *Project) Function(name string) *Function {
	for _, f := range p.Functions {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Function is one function of a project, with defaults applied.
type Function struct {
	Name    string
	Runtime string // RuntimeWasm or RuntimeProcess
	// At most one of Build, Artifact and Handler is set (see the package
	// rules). Each is the manifest's path joined to Project.Dir.
	Build       string              // Go package directory to build
	Artifact    string              // wasm module
	Handler     string              // process executable
	Memory      int                 // MiB
	Timeout     time.Duration       //
	Concurrency int                 // most instances at once; 0 = node default
	Provisioned int                 // instances kept warm
	Snapshot    bool                // wasm: start instances from a snapshot (experimental)
	Env         map[string]string   // nil when empty
	Permissions map[string][]string // always empty in this version
	Events      []Event             // in file order
	Line        int                 // line of the function's name

	handlerName string // Handler as written, relative to the project, slash-separated
}

// Event is one trigger of a function. Exactly one kind is set.
type Event struct {
	Line int
	HTTP *HTTPEvent
}

// HTTPEvent routes HTTP requests to a function.
type HTTPEvent struct {
	Method string // upper case: GET, POST, ... or ANY
	Path   string // valid for ParseRoutePath
	Auth   string // AuthNone
}

// Parse parses and validates a manifest's text. It touches no file system:
// paths are joined to filename's directory but not checked. filename is used
// in problems and as Project.File.
func Parse(filename string, data []byte) (*Project, error) {
	return parse(filename, filename, filepath.Dir(filename), false, data)
}

// Load reads and validates a manifest and checks the files it names: a build
// directory exists and holds Go files, an artifact is a wasm module, a handler
// is an executable file. path is a manifest file or a project directory
// holding gureum.yaml (or gureum.yml).
//
// Problems in the manifest are reported as an *Error; failing to find or read
// it is an ordinary error (errors.Is(err, fs.ErrNotExist) when it is missing).
func Load(path string) (*Project, error) {
	file, err := find(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit so that parse reports an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return parse(file, abs, filepath.Dir(abs), true, data)
}

// find returns the manifest file path names.
func find(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return path, nil
	}
	var found []string
	for _, name := range []string{FileName, AltFileName} {
		p := filepath.Join(path, name)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no %s in %s; create one, or pass the manifest file: %w", FileName, path, fs.ErrNotExist)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("both %s and %s are in %s; keep one", FileName, AltFileName, path)
	}
}

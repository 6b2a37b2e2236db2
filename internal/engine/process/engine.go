package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gureum/gureum/internal/engine"
)

// Config configures the process engine. It is plain data: start from
// [Default] and change what differs.
type Config struct {
	// InitTimeout bounds an instance's initialization, from starting the
	// process to its first request for an event. Lambda's is 10 s.
	InitTimeout time.Duration
	// Region and AccountID form the function ARN handed to the runtime
	// (Lambda-Runtime-Invoked-Function-Arn) when a request carries none.
	Region    string
	AccountID string
	// Cgroup chooses cgroup v2 isolation. "" detects it: instances get
	// cgroups under /sys/fs/cgroup/gureum when /sys/fs/cgroup is a writable
	// cgroup v2 hierarchy that can delegate the memory controller, and run
	// with rlimits otherwise. "off" always uses rlimits. Any other value is
	// the directory of a cgroup v2 group delegated to gureum (for example by
	// systemd's Delegate=yes); New fails if it cannot be used.
	Cgroup string
}

// CgroupOff is the Config.Cgroup value that turns cgroups off.
const CgroupOff = "off"

// Default returns the configuration Lambda's own limits suggest.
func Default() Config {
	return Config{
		InitTimeout: 10 * time.Second,
		Region:      "us-east-1",
		AccountID:   "000000000000",
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.InitTimeout <= 0 {
		return fmt.Errorf("process: init timeout must be positive, got %v", c.InitTimeout)
	}
	if c.Region == "" || strings.ContainsAny(c.Region, ": ") {
		return fmt.Errorf("process: region %q is not a region name", c.Region)
	}
	if c.AccountID == "" || strings.ContainsAny(c.AccountID, ": ") {
		return fmt.Errorf("process: account id %q is not an account id", c.AccountID)
	}
	return nil
}

// Engine prepares process functions. It is safe for concurrent use.
type Engine struct {
	cfg Config
	cg  *cgroupParent // nil: memory is limited with rlimits
	// noPtrace is set once starting a traced process was refused; the
	// engine then applies limits right after start.
	noPtrace atomic.Bool
	seq      atomic.Uint64 // numbers instances, for their cgroup names

	mu     sync.Mutex
	closed bool
	funcs  map[*Function]struct{}
}

// New returns an engine. Zero fields of cfg take their values from [Default].
func New(cfg Config) (*Engine, error) {
	def := Default()
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = def.InitTimeout
	}
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.AccountID == "" {
		cfg.AccountID = def.AccountID
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := supported(); err != nil {
		return nil, err
	}
	cg, err := openCgroupParent(cfg.Cgroup)
	if err != nil {
		return nil, fmt.Errorf("process: cgroup %s: %w", cfg.Cgroup, err)
	}
	return &Engine{cfg: cfg, cg: cg, funcs: make(map[*Function]struct{})}, nil
}

// Cgroups reports whether instances run in their own cgroups (true) or are
// limited with rlimits (false).
func (e *Engine) Cgroups() bool { return e.cg != nil }

// Prepare checks that spec's artifact can run on this node and returns the
// function from which instances start. Problems with the artifact are
// reported as engine.ErrInvalidArtifact with a sentence a user can act on.
func (e *Engine) Prepare(ctx context.Context, spec engine.Spec) (engine.Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.Runtime != "" && spec.Runtime != "process" {
		return nil, fmt.Errorf("%w: function %s has runtime %q; the process engine runs only runtime: process", engine.ErrInvalidArtifact, spec.Function, spec.Runtime)
	}
	if spec.Function == "" {
		return nil, errors.New("process: spec has no function name")
	}
	path, err := checkExecutable(spec.ArtifactPath, spec.Env["PATH"])
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", spec.Function, err)
	}
	if spec.ArtifactHash != "" {
		if err := checkHash(path, spec.ArtifactHash); err != nil {
			return nil, fmt.Errorf("function %s: %w", spec.Function, err)
		}
	}
	for k, v := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("process: function %s: environment variable %q cannot be passed to a process (names must be non-empty without '=' or NUL, values without NUL)", spec.Function, k)
		}
	}
	if strings.ContainsRune(spec.HostURL, 0) || strings.ContainsRune(spec.HostToken, 0) {
		return nil, fmt.Errorf("process: function %s: the host URL and token cannot hold NUL", spec.Function)
	}

	f := newFunction(e, spec, path)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("process: engine is closed")
	}
	e.funcs[f] = struct{}{}
	return f, nil
}

// Close closes every function still open, and with them their instances.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	funcs := make([]*Function, 0, len(e.funcs))
	for f := range e.funcs {
		funcs = append(funcs, f)
	}
	e.mu.Unlock()
	var errs []error
	for _, f := range funcs {
		errs = append(errs, f.Close(ctx))
	}
	return errors.Join(errs...)
}

func (e *Engine) forget(f *Function) {
	e.mu.Lock()
	delete(e.funcs, f)
	e.mu.Unlock()
}

// Function is a prepared function version; it starts instances.
type Function struct {
	eng      *Engine
	name     string
	path     string // absolute path of the executable
	dir      string // its directory: working directory, LAMBDA_TASK_ROOT
	version  string
	memMiB   int
	timeout  time.Duration
	arn      string   // used when a request carries no ARN
	env      []string // environment without the per-instance variables
	initType string

	mu        sync.Mutex
	closed    bool
	instances map[*Instance]struct{}
}

// Lambda's defaults for a function that does not set them.
const (
	defaultMemoryMiB = 128
	defaultTimeout   = 3 * time.Second
)

func newFunction(e *Engine, spec engine.Spec, path string) *Function {
	f := &Function{
		eng:       e,
		name:      spec.Function,
		path:      path,
		dir:       filepath.Dir(path),
		version:   spec.Version,
		memMiB:    spec.MemoryMiB,
		timeout:   spec.Timeout,
		initType:  "on-demand",
		instances: make(map[*Instance]struct{}),
	}
	if f.version == "" {
		f.version = "$LATEST"
	}
	if f.memMiB <= 0 {
		f.memMiB = defaultMemoryMiB
	}
	if f.timeout <= 0 {
		f.timeout = defaultTimeout
	}
	f.arn = "arn:aws:lambda:" + e.cfg.Region + ":" + e.cfg.AccountID + ":function:" + f.name
	f.env = f.environment(spec)
	return f
}

// Variables through which a process function reaches the node's host API
// (the Go SDK's Publish and Send): set from Spec.HostURL and Spec.HostToken,
// reserved otherwise.
const (
	envHostURL   = "GUREUM_HOST_URL"
	envHostToken = "GUREUM_HOST_TOKEN"
)

// environment is the process's environment except AWS_LAMBDA_RUNTIME_API and
// AWS_LAMBDA_LOG_STREAM_NAME, which differ per instance. The function's own
// variables may replace PATH, LANG and TZ; the Lambda variables cannot be
// replaced, as on Lambda, where they are reserved, and neither can the host
// variables, which only the spec sets.
func (f *Function) environment(spec engine.Spec) []string {
	vars := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin",
		"LANG": "en_US.UTF-8",
		"TZ":   ":UTC",
	}
	for k, v := range spec.Env {
		vars[k] = v
	}
	vars["AWS_LAMBDA_FUNCTION_NAME"] = f.name
	vars["AWS_LAMBDA_FUNCTION_VERSION"] = f.version
	vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.memMiB)
	vars["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + f.name
	vars["AWS_LAMBDA_INITIALIZATION_TYPE"] = f.initType
	vars["_HANDLER"] = spec.Handler
	vars["LAMBDA_TASK_ROOT"] = f.dir
	vars["LAMBDA_RUNTIME_DIR"] = f.dir
	delete(vars, "AWS_LAMBDA_RUNTIME_API")
	delete(vars, "AWS_LAMBDA_LOG_STREAM_NAME")
	delete(vars, envHostURL)
	delete(vars, envHostToken)
	if spec.HostURL != "" {
		vars[envHostURL] = spec.HostURL
		vars[envHostToken] = spec.HostToken
	}
	for k, v := range spec.HostEnv {
		vars[k] = v
	}
	env := make([]string, 0, len(vars)+2)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// Close closes the function's instances; no new instance starts afterwards.
func (f *Function) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	instances := make([]*Instance, 0, len(f.instances))
	for in := range f.instances {
		instances = append(instances, in)
	}
	f.mu.Unlock()
	var errs []error
	for _, in := range instances {
		errs = append(errs, in.Close(ctx))
	}
	f.eng.forget(f)
	return errors.Join(errs...)
}

// track registers a starting instance; it fails once the function is closed.
func (f *Function) track(in *Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("process: function %s is closed", f.name)
	}
	f.instances[in] = struct{}{}
	return nil
}

func (f *Function) forget(in *Instance) {
	f.mu.Lock()
	delete(f.instances, in)
	f.mu.Unlock()
}

func checkHash(path, want string) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: cannot read %s: %v", engine.ErrInvalidArtifact, path, err)
	}
	defer file.Close()
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return fmt.Errorf("%w: cannot read %s: %v", engine.ErrInvalidArtifact, path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("%w: %s has sha256 %s but the deployed version expects %s; the file changed after deployment, deploy again", engine.ErrInvalidArtifact, path, got, want)
	}
	return nil
}

// Compile-time interface guards.
var (
	_ engine.Engine   = (*Engine)(nil)
	_ engine.Function = (*Function)(nil)
	_ engine.Instance = (*Instance)(nil)
)

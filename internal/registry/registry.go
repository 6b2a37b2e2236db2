package registry

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
)

// Storage layout (see also README.md in this directory):
//
//	KV bucket gureum_registry
//	  fn.<name>                  head record: Function + generation + the $LATEST Version
//	  ver.<name>.<gen>.<n>       Version n, written before $LATEST moves past n
//	Object store gureum_artifacts
//	  <sha256 hex>               artifact bytes
const (
	// Bucket is the KV bucket holding head and version records.
	Bucket = "gureum_registry"
	// ArtifactBucket is the object store holding artifacts by sha256.
	ArtifactBucket = "gureum_artifacts"

	headPrefix    = "fn."
	versionPrefix = "ver."

	// maxAttempts bounds the compare-and-set retries of one call; every
	// failed attempt means another writer succeeded, so this is only reached
	// under extreme contention on one function.
	maxAttempts = 1000
)

// Config configures a Registry.
type Config struct {
	// CacheDir is the local artifact cache: one file per artifact, named by
	// its sha256, executable. Required.
	CacheDir string
	// Replicas is the replication factor of the bucket and object store; 0
	// means 1. A three-node NATS cluster can use 3.
	Replicas int
}

// Change says that a function's head record changed: a deploy, an alias
// change or a delete, made through any node.
type Change struct {
	Name    string
	Deleted bool
}

// Registry is the deployed state shared by every node on one JetStream. It
// holds no goroutines of its own (Watch's goroutine ends with its context),
// so it needs no shutdown; it stops working when the connection closes.
type Registry struct {
	kv       jetstream.KeyValue
	obs      jetstream.ObjectStore
	cacheDir string

	mu       sync.Mutex
	fetching map[string]*fetch // artifact hash -> fetch in flight
}

// head is the stored head record of a function. Current is the version
// $LATEST points at, kept here so that a deploy is a single compare-and-set
// of this record. Generation changes when a function is deleted and created
// again, so that version records of the old function never mix with the
// new one's.
type head struct {
	Function
	Generation string  `json:"generation"`
	Current    Version `json:"current"`
}

// Open makes sure the bucket and object store exist and returns a Registry
// on them.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Registry, error) {
	if cfg.CacheDir == "" {
		return nil, fmt.Errorf("open registry: cache dir is required: %w", ErrInvalid)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	kv, err := bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "gureum functions, versions and aliases",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	obs, err := bus.EnsureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      ArtifactBucket,
		Description: "gureum function artifacts by sha256",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	return &Registry{kv: kv, obs: obs, cacheDir: cfg.CacheDir, fetching: map[string]*fetch{}}, nil
}

// Deploy records cfg as the function's newest version and points $LATEST at
// it. When cfg equals the $LATEST version's configuration, nothing is
// written and that version is returned with changed false. Version numbers
// start at 1 and grow by one without gaps, also under concurrent deploys
// from several nodes; after Delete a function starts again at 1, as in
// Lambda.
func (r *Registry) Deploy(ctx context.Context, cfg FunctionConfig) (v *Version, changed bool, err error) {
	cfg = normalize(cfg)
	if err := validateConfig(cfg); err != nil {
		return nil, false, fmt.Errorf("deploy %s: %w", cfg.Name, err)
	}
	info, err := r.artifactInfo(ctx, cfg.ArtifactHash)
	if err != nil {
		return nil, false, fmt.Errorf("deploy %s: %w", cfg.Name, err)
	}
	switch {
	case cfg.ArtifactSize == 0:
		cfg.ArtifactSize = int64(info.Size)
	case cfg.ArtifactSize != int64(info.Size):
		return nil, false, fmt.Errorf("deploy %s: artifact size %d, stored artifact has %d: %w", cfg.Name, cfg.ArtifactSize, info.Size, ErrInvalid)
	}

	key := headKey(cfg.Name)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		h, rev, err := r.head(ctx, cfg.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, fmt.Errorf("deploy %s: %w", cfg.Name, err)
		}
		now := time.Now().UTC()
		if h == nil {
			gen, err := newGeneration()
			if err != nil {
				return nil, false, fmt.Errorf("deploy %s: %w", cfg.Name, err)
			}
			h = &head{
				Function:   Function{Name: cfg.Name, Latest: 1, CreatedAt: now, UpdatedAt: now},
				Generation: gen,
				Current:    Version{Number: 1, Config: cfg, CreatedAt: now},
			}
			_, err = r.kv.Create(ctx, key, mustJSON(h))
			if errors.Is(err, jetstream.ErrKeyExists) || isRevisionMismatch(err) {
				backoff(ctx, attempt)
				continue
			}
			if err != nil {
				return nil, false, fmt.Errorf("deploy %s: create head: %w", cfg.Name, err)
			}
			return &h.Current, true, nil
		}
		if reflect.DeepEqual(h.Current.Config, cfg) {
			return &h.Current, false, nil
		}
		// Persist the version being superseded before the head moves past
		// it. Its content is fixed (versions are immutable), so writers
		// racing here write the same bytes.
		if _, err := r.kv.Put(ctx, versionKey(cfg.Name, h.Generation, h.Latest), mustJSON(&h.Current)); err != nil {
			return nil, false, fmt.Errorf("deploy %s: store version %d: %w", cfg.Name, h.Latest, err)
		}
		h.Latest++
		h.UpdatedAt = now
		h.Current = Version{Number: h.Latest, Config: cfg, CreatedAt: now}
		_, err = r.kv.Update(ctx, key, mustJSON(h), rev)
		if isRevisionMismatch(err) {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("deploy %s: update head: %w", cfg.Name, err)
		}
		return &h.Current, true, nil
	}
	return nil, false, fmt.Errorf("deploy %s: %d concurrent updates in a row: %w", cfg.Name, maxAttempts, ErrConflict)
}

// Get returns one version of a function. The qualifier is "" or "$LATEST"
// for the newest version, a version number, or an alias name.
func (r *Registry) Get(ctx context.Context, name, qualifier string) (*Version, error) {
	h, _, err := r.head(ctx, name)
	if err != nil {
		return nil, err
	}
	n, err := h.resolve(qualifier)
	if err != nil {
		return nil, err
	}
	return r.version(ctx, h, n)
}

// resolve turns a qualifier into a version number.
func (h *head) resolve(qualifier string) (int, error) {
	switch {
	case qualifier == "" || qualifier == LatestQualifier:
		return h.Latest, nil
	case isDigits(qualifier):
		n, err := strconv.Atoi(qualifier)
		if err != nil || n < 1 || n > h.Latest {
			return 0, fmt.Errorf("function %s version %s: %w", h.Name, qualifier, ErrNotFound)
		}
		return n, nil
	default:
		n, ok := h.Aliases[qualifier]
		if !ok {
			return 0, fmt.Errorf("function %s alias %s: %w", h.Name, qualifier, ErrNotFound)
		}
		return n, nil
	}
}

// version reads version n of the function h heads.
func (r *Registry) version(ctx context.Context, h *head, n int) (*Version, error) {
	if n == h.Latest {
		v := h.Current
		return &v, nil
	}
	if n < 1 || n > h.Latest {
		return nil, fmt.Errorf("function %s version %d: %w", h.Name, n, ErrNotFound)
	}
	e, err := r.kv.Get(ctx, versionKey(h.Name, h.Generation, n))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("function %s version %d: record missing: %w", h.Name, n, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("function %s version %d: %w", h.Name, n, err)
	}
	var v Version
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, fmt.Errorf("function %s version %d: decode: %w", h.Name, n, err)
	}
	return &v, nil
}

// List returns every function's head record, sorted by name.
func (r *Registry) List(ctx context.Context) ([]Function, error) {
	heads, err := r.heads(ctx)
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	fns := make([]Function, len(heads))
	for i, h := range heads {
		fns[i] = h.Function
	}
	return fns, nil
}

// LatestAll returns the $LATEST version of every function, sorted by name.
func (r *Registry) LatestAll(ctx context.Context) ([]*Version, error) {
	heads, err := r.heads(ctx)
	if err != nil {
		return nil, fmt.Errorf("latest versions: %w", err)
	}
	vs := make([]*Version, len(heads))
	for i, h := range heads {
		vs[i] = &h.Current
	}
	return vs, nil
}

// Versions returns every version of a function, oldest first.
func (r *Registry) Versions(ctx context.Context, name string) ([]Version, error) {
	h, _, err := r.head(ctx, name)
	if err != nil {
		return nil, err
	}
	entries, err := r.scan(ctx, versionPrefix+name+"."+h.Generation+".*")
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", name, err)
	}
	vs := make([]Version, 0, h.Latest)
	for _, e := range entries {
		var v Version
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, fmt.Errorf("versions of %s: decode %s: %w", name, e.Key(), err)
		}
		if v.Number < h.Latest {
			vs = append(vs, v)
		}
	}
	vs = append(vs, h.Current)
	slices.SortFunc(vs, func(a, b Version) int { return a.Number - b.Number })
	return vs, nil
}

// Delete removes a function: its head record and all its versions. Its
// artifacts stay in the object store (other functions may share them). A
// function deployed again under the same name starts at version 1.
func (r *Registry) Delete(ctx context.Context, name string) error {
	var h *head
	for attempt := 0; ; attempt++ {
		if attempt == maxAttempts {
			return fmt.Errorf("delete %s: %d concurrent updates in a row: %w", name, maxAttempts, ErrConflict)
		}
		var rev uint64
		var err error
		h, rev, err = r.head(ctx, name)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		err = r.kv.Purge(ctx, headKey(name), jetstream.LastRevision(rev))
		if isRevisionMismatch(err) {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		break
	}
	// The head is gone, so nothing reads these records any more; a new
	// function of the same name has a new generation and other keys.
	keys, err := r.keys(ctx, versionPrefix+name+"."+h.Generation+".*")
	if err != nil {
		return fmt.Errorf("delete %s: list versions: %w", name, err)
	}
	for _, k := range keys {
		if err := r.kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("delete %s: purge %s: %w", name, k, err)
		}
	}
	return nil
}

// SetAlias points alias at an existing version of a function, creating the
// alias or moving it.
func (r *Registry) SetAlias(ctx context.Context, name, alias string, version int) error {
	if err := validateAlias(alias); err != nil {
		return fmt.Errorf("set alias %s of %s: %w", alias, name, err)
	}
	return r.updateHead(ctx, name, "set alias "+alias+" of "+name, func(h *head) (bool, error) {
		if version < 1 || version > h.Latest {
			return false, fmt.Errorf("function %s version %d: %w", name, version, ErrNotFound)
		}
		if cur, ok := h.Aliases[alias]; ok && cur == version {
			return false, nil
		}
		if h.Aliases == nil {
			h.Aliases = map[string]int{}
		}
		h.Aliases[alias] = version
		return true, nil
	})
}

// DeleteAlias removes an alias of a function.
func (r *Registry) DeleteAlias(ctx context.Context, name, alias string) error {
	return r.updateHead(ctx, name, "delete alias "+alias+" of "+name, func(h *head) (bool, error) {
		if _, ok := h.Aliases[alias]; !ok {
			return false, fmt.Errorf("function %s alias %s: %w", name, alias, ErrNotFound)
		}
		delete(h.Aliases, alias)
		if len(h.Aliases) == 0 {
			h.Aliases = nil
		}
		return true, nil
	})
}

// updateHead applies change to the function's head record with
// compare-and-set, retrying when another writer got there first. change
// returns false when there is nothing to write.
func (r *Registry) updateHead(ctx context.Context, name, what string, change func(*head) (bool, error)) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		h, rev, err := r.head(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		write, err := change(h)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !write {
			return nil
		}
		h.UpdatedAt = time.Now().UTC()
		_, err = r.kv.Update(ctx, headKey(name), mustJSON(h), rev)
		if isRevisionMismatch(err) {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	return fmt.Errorf("%s: %d concurrent updates in a row: %w", what, maxAttempts, ErrConflict)
}

// Watch reports changes to any function's head record made after Watch
// returns, by this node or any other. Changes that arrive while the
// receiver is busy are coalesced per function (the latest one is kept), so
// a slow receiver never stalls the watch. The channel closes when ctx ends
// or the connection closes.
func (r *Registry) Watch(ctx context.Context) (<-chan Change, error) {
	w, err := r.kv.Watch(ctx, headPrefix+"*", jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("watch registry: %w", err)
	}
	out := make(chan Change)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		var pending []Change // at most one per function, oldest first
		for {
			var send chan<- Change
			var next Change
			if len(pending) > 0 {
				send, next = out, pending[0]
			}
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				c := Change{
					Name:    strings.TrimPrefix(e.Key(), headPrefix),
					Deleted: e.Operation() != jetstream.KeyValuePut,
				}
				if i := slices.IndexFunc(pending, func(p Change) bool { return p.Name == c.Name }); i >= 0 {
					pending[i] = c
				} else {
					pending = append(pending, c)
				}
			case send <- next:
				pending = pending[1:]
			}
		}
	}()
	return out, nil
}

// head reads a function's head record and its revision.
func (r *Registry) head(ctx context.Context, name string) (*head, uint64, error) {
	if err := validateName(name); err != nil {
		return nil, 0, fmt.Errorf("function %q: %w", name, err)
	}
	e, err := r.kv.Get(ctx, headKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("function %s: %w", name, err)
	}
	var h head
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return nil, 0, fmt.Errorf("function %s: decode head: %w", name, err)
	}
	return &h, e.Revision(), nil
}

// heads reads every head record, sorted by name.
func (r *Registry) heads(ctx context.Context) ([]*head, error) {
	entries, err := r.scan(ctx, headPrefix+"*")
	if err != nil {
		return nil, err
	}
	hs := make([]*head, 0, len(entries))
	for _, e := range entries {
		var h head
		if err := json.Unmarshal(e.Value(), &h); err != nil {
			return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		hs = append(hs, &h)
	}
	slices.SortFunc(hs, func(a, b *head) int { return strings.Compare(a.Name, b.Name) })
	return hs, nil
}

// scan returns the current entries under a key filter in one pass.
func (r *Registry) scan(ctx context.Context, filter string) ([]jetstream.KeyValueEntry, error) {
	return bus.Scan(ctx, r.kv, filter)
}

// keys lists the keys under a filter.
func (r *Registry) keys(ctx context.Context, filter string) ([]string, error) {
	return bus.Keys(ctx, r.kv, filter)
}

func headKey(name string) string { return headPrefix + name }

func versionKey(name, gen string, n int) string {
	return versionPrefix + name + "." + gen + "." + itoa(n)
}

func newGeneration() (string, error) {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// normalize copies cfg so that the caller's maps and slices are not shared
// with the stored version, and so that empty and nil compare equal.
func normalize(cfg FunctionConfig) FunctionConfig {
	if len(cfg.Env) == 0 {
		cfg.Env = nil
	} else {
		cfg.Env = maps.Clone(cfg.Env)
	}
	if len(cfg.Routes) == 0 {
		cfg.Routes = nil
	} else {
		cfg.Routes = slices.Clone(cfg.Routes)
	}
	if len(cfg.Events) == 0 {
		cfg.Events = nil
	} else {
		evs := make([]EventSource, len(cfg.Events))
		for i, e := range cfg.Events {
			if e.Queue != nil {
				q := *e.Queue
				e.Queue = &q
			}
			if e.Topic != nil {
				t := *e.Topic
				t.Filter = compactJSON(t.Filter)
				e.Topic = &t
			}
			if e.Schedule != nil {
				sc := *e.Schedule
				sc.Input = compactJSON(sc.Input)
				e.Schedule = &sc
			}
			if e.Bucket != nil {
				b := *e.Bucket
				b.On = slices.Clone(b.On)
				e.Bucket = &b
			}
			evs[i] = e
		}
		cfg.Events = evs
	}
	cfg.SnapshotWarmup = compactJSON(cfg.SnapshotWarmup)
	if cfg.Async != nil {
		a := *cfg.Async
		cfg.Async = &a
	}
	if p := cfg.Permissions; p != nil {
		if len(p.Publish) == 0 && len(p.Send) == 0 && len(p.Tables) == 0 && len(p.Buckets) == 0 && len(p.HTTP) == 0 {
			cfg.Permissions = nil
		} else {
			cfg.Permissions = &Permissions{
				Publish: nilIfEmpty(p.Publish), Send: nilIfEmpty(p.Send),
				Tables: nilIfEmpty(p.Tables), Buckets: nilIfEmpty(p.Buckets), HTTP: nilIfEmpty(p.HTTP),
			}
		}
	}
	return cfg
}

// compactJSON drops insignificant space so that equal documents compare
// equal; invalid JSON is kept as it is (validation reports it).
func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return slices.Clone(raw)
	}
	return b.Bytes()
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func validateConfig(cfg FunctionConfig) error {
	if err := validateName(cfg.Name); err != nil {
		return fmt.Errorf("name %q: %w", cfg.Name, err)
	}
	switch cfg.Runtime {
	case RuntimeWasm, RuntimeProcess:
	default:
		return fmt.Errorf("runtime %q (want %s or %s): %w", cfg.Runtime, RuntimeWasm, RuntimeProcess, ErrInvalid)
	}
	if cfg.MemoryMiB < 0 || cfg.Timeout < 0 || cfg.Concurrency < 0 || cfg.Provisioned < 0 || cfg.ArtifactSize < 0 {
		return fmt.Errorf("memory, timeout, concurrency, provisioned and artifact size must not be negative: %w", ErrInvalid)
	}
	if err := ValidateSnapshotWarmup(cfg.Snapshot, cfg.SnapshotWarmup); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// ValidateSnapshotWarmup checks a function's snapshot warm-up event: nil,
// or valid JSON of at most MaxSnapshotWarmup bytes once compacted, on a
// function that takes snapshots. Deploy wraps its errors with ErrInvalid.
func ValidateSnapshotWarmup(snapshot bool, warmup json.RawMessage) error {
	if len(warmup) == 0 {
		return nil
	}
	if !snapshot {
		return errors.New("snapshot warm-up without snapshot: the warm-up runs only before a snapshot is taken")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, warmup); err != nil {
		return fmt.Errorf("snapshot warm-up is not valid JSON: %w", err)
	}
	if b.Len() > MaxSnapshotWarmup {
		return fmt.Errorf("snapshot warm-up takes %d bytes as JSON, more than the %d allowed", b.Len(), MaxSnapshotWarmup)
	}
	return nil
}

// validateName accepts function names as Lambda does: 1 to 64 letters,
// digits, hyphens and underscores (which also keeps them valid in KV keys).
func validateName(name string) error {
	if name == "" || len(name) > 64 || !isNameChars(name) {
		return fmt.Errorf("want 1 to 64 letters, digits, - or _: %w", ErrInvalid)
	}
	return nil
}

// validateAlias accepts alias names as Lambda does: 1 to 128 letters,
// digits, hyphens and underscores, not all digits (those are versions).
func validateAlias(alias string) error {
	if alias == "" || len(alias) > 128 || !isNameChars(alias) || isDigits(alias) {
		return fmt.Errorf("alias name: want 1 to 128 letters, digits, - or _, not only digits: %w", ErrInvalid)
	}
	return nil
}

func isNameChars(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// backoff waits a short random time after a lost compare-and-set, so that
// writers contending on one record spread out.
func backoff(ctx context.Context, attempt int) {
	limit := time.Millisecond << min(attempt, 6)
	t := time.NewTimer(rand.N(limit))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mustJSON encodes records whose types always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: encode %T: %v", v, err))
	}
	return b
}

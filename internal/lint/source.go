package lint

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/manifest"
)

// ErrNoSource is returned by a SourceIndex for a function that has no Go
// source to read: one deployed from an artifact or a handler.
var ErrNoSource = errors.New("no Go source")

// SourceIndex tells what a function's code can be seen to use.
type SourceIndex interface {
	// Source returns the uses found in fn's code, or an error wrapping
	// ErrNoSource when fn has no source to read.
	Source(fn *manifest.Function) (*Source, error)
}

// Resource is a kind of thing a function uses through a grant.
type Resource string

// Resources.
const (
	Table  Resource = "table"
	Bucket Resource = "bucket"
	Topic  Resource = "topic"
	Queue  Resource = "queue"
)

// Access is what a use does, as bits.
type Access uint8

// Accesses.
const (
	Read  Access = 1 << iota // reads items or objects
	Write                    // writes, deletes, publishes or sends
	Other                    // the reference goes where lint does not follow it
)

// Source is what a function's code can be seen to use.
type Source struct {
	Uses []Use
	// HTTP holds where the code makes outbound HTTP requests
	// (gureum.HTTPClient, net/http's client).
	HTTP []token.Position
	// Hosts are the hosts of the http and https URLs written in the code
	// or in the function's environment, host or host:port, sorted.
	Hosts []string
}

// Use is one use of a table, bucket, topic or queue.
type Use struct {
	Kind   Resource
	Names  []string // the names it can have, sorted; nil when lint cannot follow the value that names it
	Access Access
	Pos    token.Position
}

// GoSource reads a function's Go package: the .go files (not tests) of its
// build directory, parsed without type checking. It finds
//
//   - gureum.Table(NAME) and gureum.Bucket(NAME), followed by methods that
//     write (Put…, Delete…, Update…) or read (Get…, List…, Scan…), directly
//     or through a variable or struct field holding the reference;
//   - the S3 SDK's request inputs (&s3.PutObjectInput{Bucket: …});
//   - gureum.Publish(ctx, TOPIC, …) and gureum.Send(ctx, QUEUE, …);
//   - gureum.HTTPClient() and net/http's client, and the http(s) URLs
//     written in the code.
//
// Names are followed through string literals, constants, variables (every
// value assigned to them), + and os.Getenv or os.LookupEnv of a variable
// the function's env sets.
type GoSource struct{}

// Source implements SourceIndex.
func (GoSource) Source(fn *manifest.Function) (*Source, error) {
	if fn.Build == "" {
		return nil, fmt.Errorf("function %s: %w", fn.Name, ErrNoSource)
	}
	entries, err := os.ReadDir(fn.Build)
	if err != nil {
		return nil, fmt.Errorf("function %s: read its package: %w", fn.Name, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(fn.Build, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Name, err)
		}
		f, err := parser.ParseFile(fset, path, data, 0)
		if err != nil {
			return nil, fmt.Errorf("function %s: parse %s: %w", fn.Name, name, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("function %s: %s holds no Go files: %w", fn.Name, fn.Build, ErrNoSource)
	}
	return Analyze(fset, files, fn.Env), nil
}

// Import paths whose calls Analyze reads.
const (
	sdkPath  = "github.com/gureum/gureum/sdk/go"
	s3Path   = "github.com/aws/aws-sdk-go-v2/service/s3"
	awsPath  = "github.com/aws/aws-sdk-go-v2/aws"
	osPath   = "os"
	httpPath = "net/http"
)

// Limits of following values, so that any source finishes quickly.
const (
	maxDepth = 16 // assignments followed from a use to a literal
	maxNames = 64 // names one value can have
)

// Analyze finds the uses in one package's files, parsed with object
// resolution (the parser's default), resolving os.Getenv through env.
func Analyze(fset *token.FileSet, files []*ast.File, env map[string]string) *Source {
	a := &analyzer{fset: fset, env: env, assigns: make(map[bindKey][]value), src: &Source{}}
	for _, f := range files {
		a.files = append(a.files, newFileInfo(f))
	}
	for _, fi := range a.files {
		a.collect(fi)
	}
	for _, fi := range a.files {
		a.scan(fi)
	}
	hosts := make(map[string]bool)
	for _, h := range a.hosts {
		hosts[h] = true
	}
	for _, v := range env {
		if h := urlHost(v); h != "" {
			hosts[h] = true
		}
	}
	for h := range hosts {
		a.src.Hosts = append(a.src.Hosts, h)
	}
	slices.Sort(a.src.Hosts)
	return a.src
}

// fileInfo is a file and the local names of the packages Analyze reads.
type fileInfo struct {
	f                      *ast.File
	sdk, s3, aws, os, http map[string]bool
	sdkDot                 bool            // the SDK is imported with .
	pkgNames               map[string]bool // every import's local name
}

func newFileInfo(f *ast.File) *fileInfo {
	fi := &fileInfo{f: f, sdk: map[string]bool{}, s3: map[string]bool{}, aws: map[string]bool{}, os: map[string]bool{}, http: map[string]bool{}, pkgNames: map[string]bool{}}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := path[strings.LastIndexByte(path, '/')+1:]
		if path == sdkPath {
			name = "gureum"
		}
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == "_" {
			continue
		}
		if name == "." {
			if path == sdkPath {
				fi.sdkDot = true
			}
			continue
		}
		fi.pkgNames[name] = true
		switch path {
		case sdkPath:
			fi.sdk[name] = true
		case s3Path:
			fi.s3[name] = true
		case awsPath:
			fi.aws[name] = true
		case osPath:
			fi.os[name] = true
		case httpPath:
			fi.http[name] = true
		}
	}
	return fi
}

// pkgFunc reports whether e names fn of one of the packages pkgs (by local
// name, not shadowed), or fn itself when dot is set.
func pkgFunc(e ast.Expr, pkgs map[string]bool, dot bool, fn string) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		return ok && x.Obj == nil && pkgs[x.Name] && e.Sel.Name == fn
	case *ast.Ident:
		return dot && e.Obj == nil && e.Name == fn
	}
	return false
}

// bindKey names a variable or a struct field: a local's object, or a
// package-level name ("pkg:x") or field name ("field:x").
type bindKey struct {
	obj  *ast.Object
	name string
}

// value is one value assigned to a variable or field. A nil expr is a value
// lint cannot follow; tuple marks the index-th result of a multi-valued expr.
type value struct {
	expr  ast.Expr
	fi    *fileInfo
	tuple bool
	index int
}

type analyzer struct {
	fset    *token.FileSet
	env     map[string]string
	files   []*fileInfo
	assigns map[bindKey][]value
	hosts   []string
	src     *Source
}

// key returns the binding an expression names, if any.
func (a *analyzer) key(e ast.Expr, fi *fileInfo) (bindKey, bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return a.key(e.X, fi)
	case *ast.Ident:
		if e.Name == "_" {
			return bindKey{}, false
		}
		if e.Obj != nil && fi.f.Scope.Lookup(e.Name) != e.Obj {
			return bindKey{obj: e.Obj}, true
		}
		return bindKey{name: "pkg:" + e.Name}, true
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Obj == nil && fi.pkgNames[x.Name] {
			return bindKey{}, false // a package's member
		}
		return bindKey{name: "field:" + e.Sel.Name}, true
	}
	return bindKey{}, false
}

func (a *analyzer) assign(lhs ast.Expr, v value) {
	if k, ok := a.key(lhs, v.fi); ok {
		a.assigns[k] = append(a.assigns[k], v)
	}
}

// collect records every value assigned to a variable or field.
func (a *analyzer) collect(fi *fileInfo) {
	ast.Inspect(fi.f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			switch {
			case n.Tok != token.ASSIGN && n.Tok != token.DEFINE:
				for _, l := range n.Lhs {
					a.assign(l, value{fi: fi}) // x += y: not followed
				}
			case len(n.Lhs) == len(n.Rhs):
				for i, l := range n.Lhs {
					a.assign(l, value{expr: n.Rhs[i], fi: fi})
				}
			case len(n.Rhs) == 1:
				for i, l := range n.Lhs {
					a.assign(l, value{expr: n.Rhs[0], fi: fi, tuple: true, index: i})
				}
			}
		case *ast.ValueSpec:
			switch {
			case len(n.Values) == len(n.Names):
				for i, name := range n.Names {
					a.assign(name, value{expr: n.Values[i], fi: fi})
				}
			case len(n.Values) == 1:
				for i, name := range n.Names {
					a.assign(name, value{expr: n.Values[0], fi: fi, tuple: true, index: i})
				}
			case len(n.Values) == 0 && n.Type == nil:
				for _, name := range n.Names {
					a.assign(name, value{fi: fi}) // a constant repeating the one before (iota)
				}
			}
		case *ast.CompositeLit:
			for _, elt := range n.Elts {
				if kv, ok := elt.(*ast.KeyValueExpr); ok {
					if id, ok := kv.Key.(*ast.Ident); ok {
						k := bindKey{name: "field:" + id.Name}
						a.assigns[k] = append(a.assigns[k], value{expr: kv.Value, fi: fi})
					}
				}
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{n.Key, n.Value} {
				if e != nil {
					a.assign(e, value{fi: fi})
				}
			}
		}
		return true
	})
}

// resolve returns the strings e can be, or false when lint cannot follow it.
func (a *analyzer) resolve(e ast.Expr, fi *fileInfo, depth int) ([]string, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(e.Value)
		return []string{s}, err == nil
	case *ast.ParenExpr:
		return a.resolve(e.X, fi, depth+1)
	case *ast.UnaryExpr:
		if e.Op == token.AND {
			return a.resolve(e.X, fi, depth+1)
		}
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil, false
		}
		xs, ok := a.resolve(e.X, fi, depth+1)
		if !ok {
			return nil, false
		}
		ys, ok := a.resolve(e.Y, fi, depth+1)
		if !ok || len(xs)*len(ys) > maxNames {
			return nil, false
		}
		var out []string
		for _, x := range xs {
			for _, y := range ys {
				out = append(out, x+y)
			}
		}
		return dedupe(out), true
	case *ast.CallExpr:
		if len(e.Args) != 1 {
			return nil, false
		}
		switch {
		case pkgFunc(e.Fun, fi.os, false, "Getenv"):
			return a.getenv(e.Args[0], fi, depth)
		case pkgFunc(e.Fun, fi.aws, false, "String"):
			return a.resolve(e.Args[0], fi, depth+1)
		}
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "string" && id.Obj == nil {
			return a.resolve(e.Args[0], fi, depth+1)
		}
	case *ast.Ident, *ast.SelectorExpr:
		k, ok := a.key(e, fi)
		if !ok {
			return nil, false
		}
		vals := a.assigns[k]
		if len(vals) == 0 {
			return nil, false
		}
		var out []string
		for _, v := range vals {
			var names []string
			switch {
			case v.expr == nil:
				return nil, false
			case v.tuple:
				call, isCall := v.expr.(*ast.CallExpr)
				if !isCall || v.index != 0 || len(call.Args) != 1 || !pkgFunc(call.Fun, v.fi.os, false, "LookupEnv") {
					return nil, false
				}
				if names, ok = a.getenv(call.Args[0], v.fi, depth); !ok {
					return nil, false
				}
			default:
				if names, ok = a.resolve(v.expr, v.fi, depth+1); !ok {
					return nil, false
				}
			}
			out = append(out, names...)
			if len(out) > maxNames {
				return nil, false
			}
		}
		return dedupe(out), true
	}
	return nil, false
}

// getenv resolves os.Getenv(arg) through the function's env.
func (a *analyzer) getenv(arg ast.Expr, fi *fileInfo, depth int) ([]string, bool) {
	keys, ok := a.resolve(arg, fi, depth+1)
	if !ok {
		return nil, false
	}
	var out []string
	for _, k := range keys {
		v, set := a.env[k]
		if !set {
			return nil, false
		}
		out = append(out, v)
	}
	return dedupe(out), true
}

func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// refsOf returns the gureum.Table and gureum.Bucket calls a variable or
// field can hold, following assignments of one to another.
func (a *analyzer) refsOf(e ast.Expr, fi *fileInfo, depth int, seen map[bindKey]bool) []refCall {
	if depth > maxDepth {
		return nil
	}
	if call, ok := e.(*ast.CallExpr); ok {
		if kind, ok := refKind(call, fi); ok {
			return []refCall{{call: call, fi: fi, kind: kind}}
		}
		return nil
	}
	if p, ok := e.(*ast.ParenExpr); ok {
		return a.refsOf(p.X, fi, depth+1, seen)
	}
	k, ok := a.key(e, fi)
	if !ok || seen[k] {
		return nil
	}
	seen[k] = true
	var out []refCall
	for _, v := range a.assigns[k] {
		if v.expr != nil && !v.tuple {
			out = append(out, a.refsOf(v.expr, v.fi, depth+1, seen)...)
		}
	}
	return out
}

// refCall is a gureum.Table or gureum.Bucket call.
type refCall struct {
	call *ast.CallExpr
	fi   *fileInfo
	kind Resource
}

func refKind(call *ast.CallExpr, fi *fileInfo) (Resource, bool) {
	switch {
	case pkgFunc(call.Fun, fi.sdk, fi.sdkDot, "Table"):
		return Table, true
	case pkgFunc(call.Fun, fi.sdk, fi.sdkDot, "Bucket"):
		return Bucket, true
	}
	return "", false
}

// methodAccess classifies a method of a table or bucket reference; ok is
// false for methods that touch no data (Name, String).
func methodAccess(name string) (Access, bool) {
	for _, p := range []string{"Put", "Delete", "Update", "Set", "Remove", "Create", "Upload"} {
		if strings.HasPrefix(name, p) {
			return Write, true
		}
	}
	for _, p := range []string{"Get", "List", "Scan", "Head", "Stat", "Read", "Keys", "Watch", "Download", "Exists"} {
		if strings.HasPrefix(name, p) {
			return Read, true
		}
	}
	switch name {
	case "Name", "String":
		return 0, false
	}
	return Other, true
}

// s3Access classifies an S3 API operation by its input type's name.
func s3Access(op string) Access {
	switch {
	case strings.HasPrefix(op, "Get"), strings.HasPrefix(op, "Head"), strings.HasPrefix(op, "List"):
		return Read
	case strings.HasPrefix(op, "Put"), strings.HasPrefix(op, "Delete"), strings.HasPrefix(op, "Copy"),
		strings.HasPrefix(op, "UploadPart"), op == "CreateMultipartUpload", op == "CompleteMultipartUpload", op == "AbortMultipartUpload":
		return Write
	}
	return Other
}

// httpNames are the members of net/http that make outbound requests.
var httpNames = []string{"Get", "Post", "Head", "PostForm", "NewRequest", "NewRequestWithContext", "DefaultClient", "Client", "DefaultTransport", "Transport"}

// scan finds the uses in one file.
func (a *analyzer) scan(fi *fileInfo) {
	var stack []ast.Node
	ast.Inspect(fi.f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		parent := func(i int) ast.Node { // i-th ancestor of n, 1 = parent
			if len(stack) > i {
				return stack[len(stack)-1-i]
			}
			return nil
		}
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if s, err := strconv.Unquote(n.Value); err == nil {
					if h := urlHost(s); h != "" {
						a.hosts = append(a.hosts, h)
					}
				}
			}
		case *ast.CallExpr:
			a.call(n, fi, parent)
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Obj == nil && fi.http[x.Name] && slices.Contains(httpNames, n.Sel.Name) {
				a.src.HTTP = append(a.src.HTTP, a.fset.Position(n.Pos()))
			}
			a.escape(n, fi, parent)
		case *ast.Ident:
			a.escape(n, fi, parent)
		case *ast.CompositeLit:
			a.s3Input(n, fi)
		}
		return true
	})
}

// call handles a call: a reference made, a method of one called, a
// message published or sent, an HTTP client asked for.
func (a *analyzer) call(n *ast.CallExpr, fi *fileInfo, parent func(int) ast.Node) {
	pos := a.fset.Position(n.Pos())
	if kind, ok := refKind(n, fi); ok {
		names := a.refNames(refCall{call: n, fi: fi, kind: kind})
		// How is the reference used? Climb parentheses.
		i := 1
		child := ast.Node(n)
		for {
			if p, ok := parent(i).(*ast.ParenExpr); ok {
				child = p
				i++
				continue
			}
			break
		}
		switch p := parent(i).(type) {
		case *ast.SelectorExpr:
			if c, ok := parent(i + 1).(*ast.CallExpr); ok && c.Fun == p {
				if acc, ok := methodAccess(p.Sel.Name); ok {
					a.use(kind, names, acc, pos)
				}
				return
			}
			a.use(kind, names, Other, pos) // a method value
		case *ast.AssignStmt, *ast.ValueSpec:
			// Followed through the variable.
		case *ast.KeyValueExpr:
			if p.Value != child {
				a.use(kind, names, Other, pos)
			}
		default:
			a.use(kind, names, Other, pos)
		}
		return
	}
	switch sel := n.Fun.(type) {
	case *ast.SelectorExpr:
		if _, direct := ast.Unparen(sel.X).(*ast.CallExpr); direct {
			break // a method of a reference just made: recorded with the reference
		}
		refs := a.refsOf(sel.X, fi, 0, map[bindKey]bool{})
		if len(refs) == 0 {
			break
		}
		acc, ok := methodAccess(sel.Sel.Name)
		if !ok {
			break
		}
		for _, r := range refs {
			a.use(r.kind, a.refNames(r), acc, pos)
		}
		return
	}
	switch {
	case pkgFunc(n.Fun, fi.sdk, fi.sdkDot, "Publish"):
		a.message(Topic, n, fi, pos)
	case pkgFunc(n.Fun, fi.sdk, fi.sdkDot, "Send"):
		a.message(Queue, n, fi, pos)
	case pkgFunc(n.Fun, fi.sdk, fi.sdkDot, "HTTPClient"):
		a.src.HTTP = append(a.src.HTTP, pos)
	}
}

func (a *analyzer) refNames(r refCall) []string {
	if len(r.call.Args) != 1 {
		return nil
	}
	names, ok := a.resolve(r.call.Args[0], r.fi, 0)
	if !ok {
		return nil
	}
	return names
}

// message records gureum.Publish(ctx, topic, …) or gureum.Send(ctx, queue, …).
func (a *analyzer) message(kind Resource, n *ast.CallExpr, fi *fileInfo, pos token.Position) {
	var names []string
	if len(n.Args) >= 2 {
		names, _ = a.resolve(n.Args[1], fi, 0)
	}
	a.use(kind, names, Write, pos)
}

// escape records a variable or field holding a reference that goes where
// lint does not follow: passed to a function, returned, sent, stored in an
// unkeyed literal, or its address taken.
func (a *analyzer) escape(e ast.Expr, fi *fileInfo, parent func(int) ast.Node) {
	p := parent(1)
	switch p := p.(type) {
	case *ast.CallExpr:
		if p.Fun == e {
			return
		}
	case *ast.ReturnStmt, *ast.SendStmt:
	case *ast.CompositeLit:
	case *ast.UnaryExpr:
		if p.Op != token.AND {
			return
		}
	default:
		return
	}
	refs := a.refsOf(e, fi, 0, map[bindKey]bool{})
	for _, r := range refs {
		a.use(r.kind, a.refNames(r), Other, a.fset.Position(e.Pos()))
	}
}

// s3Input records an S3 request input naming a bucket:
// &s3.GetObjectInput{Bucket: aws.String("uploads"), …}.
func (a *analyzer) s3Input(n *ast.CompositeLit, fi *fileInfo) {
	sel, ok := n.Type.(*ast.SelectorExpr)
	if !ok {
		return
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok || x.Obj != nil || !fi.s3[x.Name] {
		return
	}
	op, ok := strings.CutSuffix(sel.Sel.Name, "Input")
	if !ok {
		return
	}
	for _, elt := range n.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Bucket" {
			names, _ := a.resolve(kv.Value, fi, 0)
			a.use(Bucket, names, s3Access(op), a.fset.Position(n.Pos()))
		}
	}
}

func (a *analyzer) use(kind Resource, names []string, acc Access, pos token.Position) {
	a.src.Uses = append(a.src.Uses, Use{Kind: kind, Names: names, Access: acc, Pos: pos})
}

// urlHost returns the host (with an explicit port) of an http or https
// URL, lower-cased, or "".
func urlHost(s string) string {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") || len(s) > 2048 {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || strings.ContainsAny(u.Hostname(), "{}%$ ") {
		return ""
	}
	host := strings.ToLower(u.Host)
	if strings.Contains(host, "@") {
		return ""
	}
	return host
}

var _ SourceIndex = GoSource{}

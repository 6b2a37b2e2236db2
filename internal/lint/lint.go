// Package lint checks a project's grants for least privilege: grants wider
// than the code needs (wildcards, writes the code never makes, grants it
// never uses) and uses the grants do not allow. It reads the manifest and,
// through a SourceIndex, each function's Go source; it builds and runs
// nothing, and needs no node.
//
// What the code does is seen from its call shapes, not its types (see
// GoSource), so a finding is a strong hint rather than a proof; a use that
// lint cannot follow (a name computed at run time, a reference handed to
// other code) makes it say less, never more.
package lint

import (
	"cmp"
	"errors"
	"fmt"
	"go/token"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gureum/gureum/internal/manifest"
)

// Severity is how much a finding matters.
type Severity string

// Severities. An error is a use the grants do not allow: the call would be
// refused. A warning is a grant wider than the code needs. Info says what
// lint could not check.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Codes of findings.
const (
	CodeWildcardGrant = "wildcard-grant" // "*", "*:rw", "*.example.com"
	CodeUnusedGrant   = "unused-grant"   // nothing in the code uses it
	CodeUnusedWrite   = "unused-write"   // rw where the code only reads
	CodeUnusedRead    = "unused-read"    // rw where the code only writes
	CodeMissingGrant  = "missing-grant"  // the code uses what no grant allows
	CodeNoSource      = "no-source"      // no Go source to check the grants against
	CodeDynamicName   = "dynamic-name"   // a name lint cannot follow
)

// Finding is one thing lint reports.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Function string   `json:"function"`
	Kind     string   `json:"kind,omitempty"`  // the grant's list: tables, buckets, publish, send or http
	Grant    string   `json:"grant,omitempty"` // the grant, NAME:MODE for tables and buckets
	Line     int      `json:"line"`            // line in the manifest
	Message  string   `json:"message"`
}

// Lint checks every function of p. src reads the functions' code; nil
// means GoSource. Findings come in manifest order.
func Lint(p *manifest.Project, src SourceIndex) []Finding {
	if src == nil {
		src = GoSource{}
	}
	var out []Finding
	for _, fn := range p.Functions {
		c := &checker{p: p, fn: fn, perms: fn.Permissions}
		if c.perms == nil {
			c.perms = &manifest.Permissions{}
		}
		s, err := src.Source(fn)
		switch {
		case err == nil:
			c.src = s
		case !c.perms.Empty():
			c.noSource(err)
		}
		c.check()
		out = append(out, c.out...)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Function, b.Function))
	})
	return out
}

// Errors reports whether any finding is an error.
func Errors(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == Error })
}

// grantKind is one of a function's grant lists and the resource it grants.
type grantKind struct {
	key    string // tables, buckets, publish, send
	res    Resource
	grants []manifest.Grant
	modes  bool // grants carry a mode
}

// seen is what the code does with one resource name, or with names lint
// cannot follow.
type seen struct {
	access Access
	pos    token.Position // the first use
}

type checker struct {
	p     *manifest.Project
	fn    *manifest.Function
	perms *manifest.Permissions
	src   *Source // nil when the function's code cannot be read
	out   []Finding
}

func (c *checker) kinds() []grantKind {
	return []grantKind{
		{manifest.PermissionTables, Table, c.perms.Tables, true},
		{manifest.PermissionBuckets, Bucket, c.perms.Buckets, true},
		{manifest.PermissionPublish, Topic, c.perms.Publish, false},
		{manifest.PermissionSend, Queue, c.perms.Send, false},
	}
}

func (c *checker) add(sev Severity, code, kind string, g *manifest.Grant, line int, format string, args ...any) {
	f := Finding{Severity: sev, Code: code, Function: c.fn.Name, Kind: kind, Line: line, Message: fmt.Sprintf(format, args...)}
	if g != nil {
		f.Grant, f.Line = g.String(), g.Line
	}
	c.out = append(c.out, f)
}

func (c *checker) noSource(err error) {
	switch {
	case c.fn.Artifact != "":
		c.add(Info, CodeNoSource, "", nil, c.fn.Line, "function %s runs the artifact %s, whose source lint cannot read: its grants are checked for wildcards only", c.fn.Name, c.rel(c.fn.Artifact))
	case c.fn.Handler != "":
		c.add(Info, CodeNoSource, "", nil, c.fn.Line, "function %s runs the handler %s, whose source lint cannot read: its grants are checked for wildcards only", c.fn.Name, c.rel(c.fn.Handler))
	case errors.Is(err, ErrNoSource):
		c.add(Info, CodeNoSource, "", nil, c.fn.Line, "function %s has no Go source to read: its grants are checked for wildcards only", c.fn.Name)
	default:
		c.add(Info, CodeNoSource, "", nil, c.fn.Line, "cannot read the source of function %s (%v): its grants are checked for wildcards only", c.fn.Name, err)
	}
}

// rel makes a path relative to the project, for messages.
func (c *checker) rel(path string) string {
	if r, err := filepath.Rel(c.p.Dir, path); err == nil && filepath.IsLocal(r) {
		return filepath.ToSlash(r)
	}
	return path
}

func (c *checker) at(pos token.Position) string {
	return fmt.Sprintf("%s:%d", c.rel(pos.Filename), pos.Line)
}

// uses gathers the code's uses of res: by name, and those whose name lint
// cannot follow.
func (c *checker) uses(res Resource) (byName map[string]seen, dynamic seen) {
	byName = make(map[string]seen)
	for _, u := range c.src.Uses {
		if u.Kind != res {
			continue
		}
		if u.Names == nil {
			if dynamic.access == 0 {
				dynamic.pos = u.Pos
			}
			dynamic.access |= u.Access
			continue
		}
		for _, n := range u.Names {
			s, ok := byName[n]
			if !ok {
				s.pos = u.Pos
			}
			s.access |= u.Access
			byName[n] = s
		}
	}
	return byName, dynamic
}

func (c *checker) check() {
	triggers := c.triggerBuckets()
	for _, k := range c.kinds() {
		var byName map[string]seen
		var dynamic seen
		if c.src != nil {
			byName, dynamic = c.uses(k.res)
		}
		for i := range k.grants {
			g := &k.grants[i]
			if g.Wildcard() {
				c.wildcard(k, g, byName, dynamic)
			} else if c.src != nil {
				c.grantUse(k, g, byName[g.Name], dynamic, slices.Contains(triggers, g.Name))
			}
		}
		if c.src == nil {
			continue
		}
		c.missing(k, byName)
		c.dynamicUse(k, dynamic, triggers)
	}
	c.http()
}

// triggerBuckets are the buckets whose events invoke the function.
func (c *checker) triggerBuckets() []string {
	var out []string
	for _, ev := range c.fn.Events {
		if ev.Bucket != nil && !slices.Contains(out, ev.Bucket.Name) {
			out = append(out, ev.Bucket.Name)
		}
	}
	return out
}

// modeOf writes an access as a grant's mode; "" when it neither reads nor
// writes.
func modeOf(a Access) string {
	switch {
	case a&Read != 0 && a&Write != 0:
		return manifest.ModeReadWrite
	case a&Read != 0:
		return manifest.ModeRead
	case a&Write != 0:
		return manifest.ModeWrite
	}
	return ""
}

// grantAccess is what a grant allows.
func grantAccess(g manifest.Grant, modes bool) Access {
	if !modes {
		return Write // publish and send
	}
	var a Access
	if g.Reads() {
		a |= Read
	}
	if g.Writes() {
		a |= Write
	}
	return a
}

func verb(res Resource, a Access) string {
	switch res {
	case Topic:
		return "publishes to"
	case Queue:
		return "sends to"
	}
	switch {
	case a&Read != 0 && a&Write != 0:
		return "reads and writes"
	case a&Write != 0:
		return "writes"
	case a&Read != 0:
		return "reads"
	}
	return "uses"
}

// grantUse checks a grant of one name against what the code does with it.
func (c *checker) grantUse(k grantKind, g *manifest.Grant, s, dynamic seen, trigger bool) {
	if s.access == 0 {
		if dynamic.access != 0 {
			return // dynamicUse says the grants are not checked
		}
		extra := ""
		if trigger {
			extra = fmt.Sprintf("; receiving the events of bucket %s needs no grant", g.Name)
		}
		c.add(Warning, CodeUnusedGrant, k.key, g, 0, "function %s is granted %s %s, but its code never uses %s %s%s: remove the grant",
			c.fn.Name, k.res, g, k.res, g.Name, extra)
		return
	}
	if !k.modes || s.access&Other != 0 || dynamic.access&Other != 0 {
		return
	}
	need := s.access & (Read | Write)
	granted := grantAccess(*g, true)
	if need&^granted != 0 {
		return // missing reports it
	}
	switch {
	case granted&Write != 0 && need&Write == 0 && dynamic.access&Write == 0:
		c.add(Warning, CodeUnusedWrite, k.key, g, 0, "function %s only reads %s %s (%s), but %s also allows writing: grant %s:%s instead",
			c.fn.Name, k.res, g.Name, c.at(s.pos), g, g.Name, modeOf(need))
	case granted&Read != 0 && need&Read == 0 && dynamic.access&Read == 0:
		c.add(Warning, CodeUnusedRead, k.key, g, 0, "function %s only writes %s %s (%s), but %s also allows reading: grant %s:%s instead",
			c.fn.Name, k.res, g.Name, c.at(s.pos), g, g.Name, modeOf(need))
	}
}

// missing reports uses of names that no grant allows.
func (c *checker) missing(k grantKind, byName map[string]seen) {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := byName[n]
		var allowed Access
		var explicit, wild *manifest.Grant
		for i := range k.grants {
			g := &k.grants[i]
			switch g.Name {
			case n:
				explicit = g
			case "*":
				wild = g
			default:
				continue
			}
			allowed |= grantAccess(*g, k.modes)
		}
		need := s.access & (Read | Write)
		if s.access == Other {
			if allowed == 0 {
				c.add(Warning, CodeMissingGrant, k.key, nil, c.grantLine(), "function %s uses %s %s (%s) but has no grant for it, so every call on it will be refused: add %s",
					c.fn.Name, k.res, n, c.at(s.pos), c.suggest(k, n, Read|Write))
			}
			continue
		}
		if need&^allowed == 0 {
			continue
		}
		if !k.modes {
			c.add(Error, CodeMissingGrant, k.key, nil, c.grantLine(), "function %s %s %s %s (%s) but has no grant for it, so the call will be refused: add %s",
				c.fn.Name, verb(k.res, need), k.res, n, c.at(s.pos), c.suggest(k, n, need))
			continue
		}
		want := need
		if s.access&Other != 0 {
			want |= allowed // what else it does is not seen: keep what is granted
		}
		switch g := cmp.Or(explicit, wild); {
		case g == nil:
			c.add(Error, CodeMissingGrant, k.key, nil, c.grantLine(), "function %s %s %s %s (%s) but has no grant for it, so the call will be refused: add %s",
				c.fn.Name, verb(k.res, need), k.res, n, c.at(s.pos), c.suggest(k, n, want))
		default:
			c.add(Error, CodeMissingGrant, k.key, g, 0, "function %s %s %s %s (%s), which %s does not allow, so the call will be refused: grant %s:%s",
				c.fn.Name, verb(k.res, need&^allowed), k.res, n, c.at(s.pos), g, n, modeOf(want))
		}
	}
}

// grantLine is where a missing grant belongs: the permissions, or the
// function.
func (c *checker) grantLine() int {
	if c.perms.Line > 0 {
		return c.perms.Line
	}
	return c.fn.Line
}

// suggest writes the grant of one name as the manifest would.
func (c *checker) suggest(k grantKind, name string, a Access) string {
	if !k.modes {
		return fmt.Sprintf("permissions: {%s: [%s]}", k.key, name)
	}
	return fmt.Sprintf("permissions: {%s: [%s:%s]}", k.key, name, modeOf(a))
}

// dynamicUse reports uses whose names lint cannot follow: a warning when no
// grant of the kind can allow them, info otherwise.
func (c *checker) dynamicUse(k grantKind, d seen, triggers []string) {
	if d.access == 0 {
		return
	}
	if k.res == Bucket && len(triggers) > 0 && d.access&(Read|Other) != 0 {
		var unread []string
		for _, t := range triggers {
			if !slices.ContainsFunc(k.grants, func(g manifest.Grant) bool { return (g.Name == t || g.Name == "*") && g.Reads() }) {
				unread = append(unread, t)
			}
		}
		if len(unread) > 0 {
			grants := make([]string, len(unread))
			for i, t := range unread {
				grants[i] = t + ":r"
			}
			c.add(Warning, CodeMissingGrant, k.key, nil, c.grantLine(), "function %s reads a bucket named by a value lint cannot follow (%s), most likely the bucket of its event; receiving the events of %s needs no grant, but reading its objects does: add permissions: {buckets: [%s]}",
				c.fn.Name, c.at(d.pos), strings.Join(unread, " and "), strings.Join(grants, ", "))
			return
		}
	}
	if len(k.grants) == 0 {
		c.add(Warning, CodeMissingGrant, k.key, nil, c.fn.Line, "function %s %s a %s named by a value lint cannot follow (%s), but has no %s grant, so the call will be refused: grant the %ss it uses, e.g. %s",
			c.fn.Name, verb(k.res, d.access), k.res, c.at(d.pos), k.key, k.res, c.suggest(k, sample(k.res), d.access))
		return
	}
	if !slices.ContainsFunc(k.grants, func(g manifest.Grant) bool { return !g.Wildcard() }) {
		return // the wildcard's finding says it
	}
	c.add(Info, CodeDynamicName, k.key, nil, c.grantLine(), "function %s names a %s with a value lint cannot follow (%s): its %s grants are not checked for use",
		c.fn.Name, k.res, c.at(d.pos), k.key)
}

func sample(res Resource) string {
	switch res {
	case Table:
		return "orders"
	case Bucket:
		return "uploads"
	case Topic:
		return "order-events"
	}
	return "jobs"
}

// wildcard reports a "*" grant with the names it could be instead.
func (c *checker) wildcard(k grantKind, g *manifest.Grant, byName map[string]seen, dynamic seen) {
	what := "every " + string(k.res)
	switch {
	case c.src == nil:
		declared := c.declared(k.res)
		if len(declared) == 0 {
			c.add(Warning, CodeWildcardGrant, k.key, g, 0, "function %s is granted %s (%s); name the %ss it uses instead, e.g. %s",
				c.fn.Name, what, g, k.res, c.suggest(k, sample(k.res), grantAccess(*g, k.modes)))
			return
		}
		c.add(Warning, CodeWildcardGrant, k.key, g, 0, "function %s is granted %s (%s); name the ones it uses instead: the project declares %s",
			c.fn.Name, what, g, strings.Join(declared, ", "))
	case len(byName) == 0 && dynamic.access == 0:
		c.add(Warning, CodeWildcardGrant, k.key, g, 0, "function %s is granted %s (%s), but its code uses none: remove the grant",
			c.fn.Name, what, g)
	default:
		var names []string
		for n, s := range byName {
			if k.modes {
				m := modeOf(s.access)
				if s.access&Other != 0 || m == "" {
					m = g.Mode
				}
				names = append(names, n+":"+m)
			} else {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		msg := fmt.Sprintf("function %s is granted %s (%s); ", c.fn.Name, what, g)
		if len(names) > 0 {
			msg += fmt.Sprintf("its code uses only these: grant %s: [%s] instead", k.key, strings.Join(names, ", "))
		}
		if dynamic.access != 0 {
			if len(names) > 0 {
				msg += ", with "
			} else {
				msg += "name the " + string(k.res) + "s it uses instead, "
			}
			msg += fmt.Sprintf("the ones it names at %s, which lint cannot follow", c.at(dynamic.pos))
		}
		c.add(Warning, CodeWildcardGrant, k.key, g, 0, "%s", msg)
	}
}

// declared lists the project's declared names of a kind.
func (c *checker) declared(res Resource) []string {
	var out []string
	switch res {
	case Table:
		for _, t := range c.p.Tables {
			out = append(out, t.Name)
		}
	case Bucket:
		for _, b := range c.p.Buckets {
			out = append(out, b.Name)
		}
	case Topic:
		for _, t := range c.p.Topics {
			out = append(out, t.Name)
		}
	case Queue:
		for _, q := range c.p.Queues {
			out = append(out, q.Name)
		}
	}
	return out
}

// http checks the HTTP grants: wildcards, and grants of a function whose
// code makes no request.
func (c *checker) http() {
	const key = manifest.PermissionHTTP
	for i := range c.perms.HTTP {
		g := &c.perms.HTTP[i]
		if c.src != nil && len(c.src.HTTP) == 0 {
			c.add(Warning, CodeUnusedGrant, key, g, 0, "function %s may reach %s, but its code makes no HTTP request (gureum.HTTPClient or net/http): remove the grant", c.fn.Name, g)
			continue
		}
		if !g.Wildcard() {
			continue
		}
		var hosts []string
		if c.src != nil {
			domain := strings.TrimPrefix(hostOnly(g.Name), "*")
			for _, h := range c.src.Hosts {
				if domain == "" || strings.HasSuffix(hostOnly(h), domain) {
					hosts = append(hosts, h)
				}
			}
		}
		what := "every host"
		if g.Name != "*" {
			what = "every subdomain of " + strings.TrimPrefix(g.Name, "*.")
		}
		if len(hosts) > 0 {
			c.add(Warning, CodeWildcardGrant, key, g, 0, "function %s may reach %s (%s); its code and env name only these: grant http: [%s] instead", c.fn.Name, what, g, strings.Join(hosts, ", "))
		} else {
			c.add(Warning, CodeWildcardGrant, key, g, 0, "function %s may reach %s (%s); name the hosts it reaches instead, e.g. http: [api.example.com]", c.fn.Name, what, g)
		}
	}
	if c.src != nil && len(c.src.HTTP) > 0 && len(c.perms.HTTP) == 0 {
		example := "api.example.com"
		if len(c.src.Hosts) > 0 {
			example = strings.Join(c.src.Hosts, ", ")
		}
		c.add(Warning, CodeMissingGrant, key, nil, c.fn.Line, "function %s makes HTTP requests (%s) but has no http grant, so every request will be refused: grant the hosts it reaches, e.g. permissions: {http: [%s]}",
			c.fn.Name, c.at(c.src.HTTP[0]), example)
	}
}

// hostOnly drops the port of host:port or [v6]:port.
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

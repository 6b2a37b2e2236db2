package manifest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

const (
	// maxFileSize bounds the manifest's size.
	maxFileSize = 1 << 20
	// maxWork bounds the values visited, which aliases can multiply.
	maxWork = 1_000_000
)

// Keys the manifest knows, for "did you mean" suggestions.
var (
	topKeys      = []string{"app", "functions", "queues", "topics", "buckets", "tables", "workflows"}
	functionKeys = []string{"runtime", "build", "artifact", "handler", "memory", "timeout", "concurrency", "provisioned", "snapshot", "env", "async", "permissions", "events"}
	snapshotKeys = []string{"warmup"}
)

// parser collects problems while it walks a manifest's YAML nodes. It never
// stops at the first problem.
type parser struct {
	display    string // file name in problems
	file       string // Project.File
	dir        string // Project.Dir
	checkFS    bool   // check the files the manifest names (Load)
	checks     Checks
	problems   []Problem
	work       int
	routes     []route
	refs       []ref       // names used, checked against the declared ones
	uses       []queueUse  // queue events, checked once every queue and function is known
	bucketUses []bucketUse // bucket notifications, checked for overlaps once all are known
}

// errTooMuchWork stops a walk that aliases have blown up.
var errTooMuchWork = errors.New("too much work")

func parse(display, file, dir string, checkFS bool, checks Checks, data []byte) (*Project, error) {
	p := &parser{display: display, file: file, dir: dir, checkFS: checkFS, checks: checks}
	proj := p.run(data)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		p.problems = slices.Compact(p.problems)
		return nil, &Error{Problems: p.problems}
	}
	return proj, nil
}

func (p *parser) run(data []byte) (proj *Project) {
	if len(data) > maxFileSize {
		p.addAt(1, 1, "", fmt.Sprintf("the manifest is larger than %d bytes; a manifest describes a project, its code lives in the files it names", maxFileSize))
		return nil
	}
	if !utf8.Valid(data) {
		line, col := invalidUTF8(data)
		p.addAt(line, col, "", "the manifest is not valid UTF-8; save it as UTF-8")
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addAt(1, 1, "", "the manifest is empty; start with the app's name and a function, e.g. app: shop")
		} else {
			p.syntax(err, data)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.add(&next, "", "a second YAML document follows the first; a manifest is one document: remove the '---' and what follows, or merge the two")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err, data)
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			if r != errTooMuchWork {
				panic(r)
			}
			p.addAt(1, 1, "", fmt.Sprintf("aliases expand the manifest to more than %d values; use fewer aliases (*name) and merges (<<)", maxWork))
			proj = nil
		}
	}()
	return p.project(&doc)
}

// syntax records a YAML syntax error. For many errors the YAML parser reports
// a line near where the enclosing block starts rather than the offending
// line; syntaxLine finds the latter. Errors reported without a line are located
// here where possible.
func (p *parser) syntax(err error, data []byte) {
	msg, line := splitYAMLError(err)
	col := 0
	if line == 0 {
		line, col = locateSyntax(msg, data)
	} else {
		line = syntaxLine(data, msg, line)
	}
	hint := "check the indentation and quoting here and on the line before (quote values that contain ': ' or ' #', or start with { [ * & ! | >)"
	switch text := lineText(data, line); {
	case strings.Contains(text, "/{"):
		hint = "a path with {parameters} inside { } must be quoted, e.g. {method: GET, path: \"/orders/{id}\"}, or use the shorthand - http: GET /orders/{id}"
	case strings.Contains(text, "cron("):
		hint = "a cron expression inside { } must be quoted, e.g. {expression: \"cron(0 12 * * ? *)\"}"
	}
	p.addAt(line, col, "", "YAML syntax error: "+msg+"; "+hint)
}

// splitYAMLError separates the line from a YAML error's text; line is 0
// when the error has none.
func splitYAMLError(err error) (msg string, line int) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				return after, l
			}
		}
	}
	return msg, 0
}

// syntaxLine finds the first line at or after reported where the document,
// cut there, fails with the same error: the offending line. It gives up, and
// returns reported, after a bounded number of tries and bytes parsed.
func syntaxLine(data []byte, msg string, reported int) int {
	const maxTries, maxBytes = 200, 4 << 20
	lines := bytes.SplitAfter(data, []byte("\n"))
	end, parsed := 0, 0
	for i := 0; i < reported-1 && i < len(lines); i++ {
		end += len(lines[i])
	}
	for l := reported; l <= len(lines) && l < reported+maxTries; l++ {
		end += len(lines[l-1])
		if parsed += end; parsed > maxBytes {
			break
		}
		if err := yamlError(data[:end]); err != nil {
			if m, _ := splitYAMLError(err); m == msg {
				return l
			}
		}
	}
	return reported
}

// yamlError returns the first error in decoding every document of data.
func yamlError(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// lineText returns line number l (1-based) of data.
func lineText(data []byte, l int) string {
	for i := 1; i < l; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// locateSyntax finds where errors the YAML parser reports without a line
// come from: an alias to an unknown anchor. Anything else is placed at 1:1.
func locateSyntax(msg string, data []byte) (line, col int) {
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name, _, _ = strings.Cut(name, "'")
		if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
			return position(data, i)
		}
	}
	return 1, 1
}

// invalidUTF8 returns the position of the first byte that is not UTF-8.
func invalidUTF8(data []byte) (line, col int) {
	i := 0
	for i < len(data) {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	return position(data, i)
}

// position converts a byte offset into a 1-based line and column (in runes).
func position(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCount(before) + 1
}

// add records a problem at n.
func (p *parser) add(n *yaml.Node, path, msg string) {
	p.addAt(n.Line, n.Column, path, msg)
}

func (p *parser) addAt(line, col int, path, msg string) {
	p.problems = append(p.problems, Problem{File: p.display, Line: line, Column: col, Path: path, Message: msg})
}

func (p *parser) project(doc *yaml.Node) *Project {
	if len(doc.Content) == 0 {
		p.addAt(1, 1, "", "the manifest is empty; start with the app's name and a function, e.g. app: shop")
		return nil
	}
	root := p.value(doc.Content[0], "")
	if isNull(root) {
		p.add(root, "", "the manifest is empty; start with the app's name and a function, e.g. app: shop")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add(root, "", "the manifest must be a map of settings; start with the app's name, e.g. app: shop")
		return nil
	}
	proj := &Project{File: p.file, Dir: p.dir}
	var app, functions *entry
	for _, e := range p.entries(root, "") {
		switch e.name {
		case "app":
			app = &e
			proj.App = p.app(e)
		case "functions":
			functions = &e
			proj.Functions = p.functions(e)
		case "queues":
			proj.Queues = p.queues(e)
		case "topics":
			proj.Topics = p.topics(e)
		case "tables":
			proj.Tables = p.tables(e)
		case "buckets":
			proj.Buckets = p.buckets(e)
		case "workflows":
			p.add(e.key, e.name, e.name+" are not supported by this version of gureum yet; remove the "+e.name+" section")
		default:
			if strings.HasPrefix(e.name, "x-") {
				continue // free for anchors
			}
			if e.val.Kind == yaml.MappingNode && looksLikeFunction(e.val) {
				p.add(e.key, e.name, fmt.Sprintf("unknown key %q; it looks like a function: indent it under functions:", e.name))
				continue
			}
			p.unknown(e, "", topKeys)
		}
	}
	if app == nil {
		p.add(root, "app", "missing; name the application first, e.g. app: shop")
	}
	if functions == nil {
		p.add(root, "functions", "missing; list the functions, e.g. functions: {api: {build: ./api}}")
	} else if len(proj.Functions) == 0 && isNull(functions.val) {
		p.add(functions.key, "functions", "no functions; list at least one, e.g. functions: {api: {build: ./api}}")
	}
	p.checkRoutes()
	p.checkRefs(proj)
	p.checkQueueUses(proj)
	p.checkBucketUses()
	return proj
}

func looksLikeFunction(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if slices.Contains(functionKeys, n.Content[i].Value) {
			return true
		}
	}
	return false
}

func (p *parser) app(e entry) string {
	s, ok := p.str(e.val, "app", "app: shop")
	if !ok {
		return ""
	}
	if !validAppName(s) {
		p.add(e.val, "app", fmt.Sprintf("%q is not a valid app name; use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. app: shop", s))
	}
	return s
}

func validAppName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validFunctionName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(isAlnum(c) || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// entry is one key of a mapping, its value resolved.
type entry struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// value resolves aliases and reports tags that gureum.yaml does not use.
func (p *parser) value(n *yaml.Node, path string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		p.tick()
		n = n.Alias
	}
	p.tick()
	if n.Tag != "" && n.Tag != "!" && !strings.HasPrefix(n.ShortTag(), "!!") {
		p.add(n, path, fmt.Sprintf("the YAML tag %s is not supported; gureum.yaml uses plain values: remove the tag", n.Tag))
	}
	return n
}

func (p *parser) tick() {
	p.work++
	if p.work > maxWork {
		panic(errTooMuchWork)
	}
}

// entries returns a mapping's keys in order with their values resolved and
// merge keys (<<) expanded. It reports keys that are not plain names and keys
// given twice.
func (p *parser) entries(n *yaml.Node, path string) []entry {
	return p.entriesOf(n, path, nil)
}

func (p *parser) entriesOf(n *yaml.Node, path string, merging []*yaml.Node) []entry {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out, merged []entry
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.value(n.Content[i], path)
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, p.merge(n.Content[i+1], path, append(merging, n))...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.add(k, path, "a key must be a plain name, not a list or a map; write name: value")
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			p.add(k, kp, fmt.Sprintf("given twice (first at line %d); remove one", first.Line))
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{name: k.Value, key: k, val: p.value(n.Content[i+1], kp)})
	}
	for _, e := range merged {
		if _, dup := seen[e.name]; !dup {
			seen[e.name] = e.key
			out = append(out, e)
		}
	}
	return out
}

// merge expands the value of a merge key: a map or a list of maps.
func (p *parser) merge(n *yaml.Node, path string, merging []*yaml.Node) []entry {
	v := p.value(n, path)
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, item := range v.Content {
			maps = append(maps, p.value(item, path))
		}
	default:
		p.add(v, path, "<< merges a map or a list of maps; e.g. <<: *defaults")
	}
	var out []entry
	for _, m := range maps {
		if m.Kind != yaml.MappingNode {
			p.add(m, path, "<< merges a map or a list of maps; e.g. <<: *defaults")
			continue
		}
		if slices.Contains(merging, m) {
			p.add(n, path, "<< merges a map that contains this merge; merge a separate map, e.g. <<: *defaults")
			continue
		}
		out = append(out, p.entriesOf(m, path, merging)...)
	}
	return out
}

// items returns a sequence's items, resolved.
func (p *parser) items(n *yaml.Node, path string) []*yaml.Node {
	out := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		out[i] = p.value(item, path+"["+strconv.Itoa(i)+"]")
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// str returns a scalar's text. example shows a valid setting.
func (p *parser) str(n *yaml.Node, path, example string) (string, bool) {
	switch {
	case isNull(n):
		p.add(n, path, "empty; give a value, e.g. "+example)
	case n.Kind != yaml.ScalarNode:
		p.add(n, path, fmt.Sprintf("a %s where a single value belongs; e.g. %s", kindName(n), example))
	case n.Value == "":
		p.add(n, path, "empty; give a value, e.g. "+example)
	default:
		return n.Value, true
	}
	return "", false
}

// boolean returns a true or false scalar's value.
func (p *parser) boolean(n *yaml.Node, path, example string) (bool, bool) {
	name := path[strings.LastIndexByte(path, '.')+1:]
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		switch n.Value {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	p.add(n, path, fmt.Sprintf("%s is not true or false; %s is true or false, e.g. %s", describe(n), name, example))
	return false, false
}

// integer returns an integer scalar's value. what completes "memory is ...".
func (p *parser) integer(n *yaml.Node, path, what, example string) (int64, bool) {
	name := path[strings.LastIndexByte(path, '.')+1:]
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || isDigits(n.Value)) {
		var v int64
		if err := n.Decode(&v); err == nil {
			return v, true
		}
		p.add(n, path, fmt.Sprintf("%s is too large; %s is %s, e.g. %s", n.Value, name, what, example))
		return 0, false
	}
	p.add(n, path, fmt.Sprintf("%s is not a whole number; %s is %s, e.g. %s", describe(n), name, what, example))
	return 0, false
}

// isDigits reports whether s is an optionally signed run of decimal digits.
func isDigits(s string) bool {
	s = strings.TrimLeft(s, "+-")
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

// describe names a value in a message.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		if isNull(n) {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "a " + kindName(n)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value"
	}
}

// unknown reports a key the manifest does not know at this place and
// returns the known key it suggests instead, if any.
func (p *parser) unknown(e entry, path string, known []string) string {
	msg := fmt.Sprintf("unknown key %q", e.name)
	s := suggest(e.name, known)
	if s == "" {
		if alt, ok := awsNames[strings.ToLower(e.name)]; ok && slices.Contains(known, alt) {
			s = alt
		}
	}
	if s != "" {
		msg += "; did you mean " + s + "?"
	} else {
		msg += "; the keys here are " + strings.Join(known, ", ")
	}
	p.add(e.key, join(path, e.name), msg)
	return s
}

package topic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Filter policy scopes. SNS's names, MessageAttributes and MessageBody,
// are accepted too.
const (
	ScopeAttributes = "attributes" // the default
	ScopeBody       = "body"
)

// Filter policy limits, as Amazon SNS sets them.
const (
	maxPolicyBytes   = 256 << 10
	maxPolicyKeys    = 5   // leaf keys in one combination (after expanding $or)
	maxCombinations  = 150 // sum over $or alternatives of the product of the value counts
	maxPolicyDepth   = 5   // nested objects, counting property objects and $or branches
	maxPolicyNumber  = 1e9 // numbers in a policy lie within ±maxPolicyNumber
	operatorsSummary = "prefix, suffix, equals-ignore-case, anything-but, numeric, exists"
)

// FilterPolicy decides which messages a subscription receives. The zero
// value and nil match every message. Create one with ParseFilterPolicy or
// ParseBodyFilterPolicy.
type FilterPolicy struct {
	scope string
	root  *policyNode
}

// policyNode is one policy object: every key must match (AND) and, for each
// $or in it, at least one of the branches.
type policyNode struct {
	keys []policyKey
	ors  [][]*policyNode
}

// policyKey is a leaf key with its conditions (OR), or a nested object
// (MessageBody scope only).
type policyKey struct {
	name  string
	conds []condition
	child *policyNode
}

type condKind uint8

const (
	condString condKind = iota
	condNumber
	condBool
	condNull
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut // matches when none of not matches
	condNumeric
	condExists
)

type condition struct {
	kind condKind
	s    string
	n    float64
	b    bool
	not  []condition // anything-but

	// numeric: lower and upper bounds, each optional.
	hasLo, loIncl, hasHi, hiIncl bool
	lo, hi                       float64
}

// ParseFilterPolicy parses a filter policy on message attributes (the SNS
// scope MessageAttributes). Errors wrap ErrInvalid.
func ParseFilterPolicy(data []byte) (*FilterPolicy, error) {
	return parsePolicy(data, ScopeAttributes)
}

// ParseBodyFilterPolicy parses a filter policy on the message body, which
// must then be a JSON object (the SNS scope MessageBody). Errors wrap
// ErrInvalid.
func ParseBodyFilterPolicy(data []byte) (*FilterPolicy, error) {
	return parsePolicy(data, ScopeBody)
}

// ParseFilterPolicyScope parses a policy for scope: "" or ScopeAttributes,
// or ScopeBody.
func ParseFilterPolicyScope(data []byte, scope string) (*FilterPolicy, error) {
	sc, err := canonicalScope(scope)
	if err != nil {
		return nil, err
	}
	return parsePolicy(data, sc)
}

// canonicalScope maps a scope, ours or SNS's name for it, to ScopeAttributes
// or ScopeBody.
func canonicalScope(scope string) (string, error) {
	switch scope {
	case "", ScopeAttributes, "MessageAttributes":
		return ScopeAttributes, nil
	case ScopeBody, "MessageBody":
		return ScopeBody, nil
	}
	return "", invalidf("filter scope %q: want %s or %s", scope, ScopeAttributes, ScopeBody)
}

// Scope is the policy's scope, ScopeAttributes or ScopeBody.
func (p *FilterPolicy) Scope() string {
	if p == nil || p.scope == "" {
		return ScopeAttributes
	}
	return p.scope
}

func parsePolicy(data []byte, scope string) (*FilterPolicy, error) {
	if len(data) > maxPolicyBytes {
		return nil, invalidf("filter policy: %d bytes, at most %d", len(data), maxPolicyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidf("filter policy: not JSON: %v", err)
	}
	if dec.More() {
		return nil, invalidf("filter policy: unexpected data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidf(`filter policy: want a JSON object such as {"store": ["example_corp"]}`)
	}
	p := &policyParser{body: scope == ScopeBody}
	root, err := p.node(obj, "", 1)
	if err != nil {
		return nil, err
	}
	alts, err := alternatives(root)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, a := range alts {
		if a.keys > maxPolicyKeys {
			return nil, invalidf("filter policy: %d keys in one combination, at most %d", a.keys, maxPolicyKeys)
		}
		total += a.combos
	}
	if total > maxCombinations {
		return nil, invalidf("filter policy: %d combinations of values, at most %d", total, maxCombinations)
	}
	return &FilterPolicy{scope: scope, root: root}, nil
}

type policyParser struct {
	body bool
}

func (p *policyParser) node(obj map[string]any, path string, depth int) (*policyNode, error) {
	if depth > maxPolicyDepth {
		return nil, invalidf("filter policy: %s: nested more than %d levels deep", quotePath(path), maxPolicyDepth)
	}
	n := &policyNode{}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	slices.Sort(names) // deterministic errors and evaluation order
	for _, name := range names {
		v := obj[name]
		if name == "$or" {
			branches, err := p.or(v, path, depth)
			if err != nil {
				return nil, err
			}
			n.ors = append(n.ors, branches)
			continue
		}
		kpath := joinPath(path, name)
		if name == "" {
			return nil, invalidf("filter policy: %s: empty key", quotePath(path))
		}
		if strings.HasPrefix(name, "$") {
			return nil, invalidf("filter policy: %s: unknown operator %q; only $or is supported", quotePath(kpath), name)
		}
		switch v := v.(type) {
		case []any:
			conds, err := p.conditions(v, kpath)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, policyKey{name: name, conds: conds})
		case map[string]any:
			if !p.body {
				return nil, invalidf("filter policy: %s: nested properties need the %s scope; give an array of values such as [\"a\", \"b\"]", quotePath(kpath), ScopeBody)
			}
			child, err := p.node(v, kpath, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, policyKey{name: name, child: child})
		default:
			return nil, invalidf("filter policy: %s: want an array of values, e.g. [%s]", quotePath(kpath), exampleOf(v))
		}
	}
	return n, nil
}

func (p *policyParser) or(v any, path string, depth int) ([]*policyNode, error) {
	opath := joinPath(path, "$or")
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return nil, invalidf(`filter policy: %s: want an array of at least two objects, e.g. [{"a": ["x"]}, {"b": ["y"]}]`, quotePath(opath))
	}
	branches := make([]*policyNode, 0, len(arr))
	for _, b := range arr {
		obj, ok := b.(map[string]any)
		if !ok || len(obj) == 0 {
			return nil, invalidf("filter policy: %s: every branch must be a non-empty object", quotePath(opath))
		}
		n, err := p.node(obj, path, depth+1)
		if err != nil {
			return nil, err
		}
		branches = append(branches, n)
	}
	return branches, nil
}

func (p *policyParser) conditions(arr []any, path string) ([]condition, error) {
	if len(arr) == 0 {
		return nil, invalidf("filter policy: %s: empty array; give at least one value", quotePath(path))
	}
	conds := make([]condition, 0, len(arr))
	for _, v := range arr {
		c, err := p.condition(v, path)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return conds, nil
}

func (p *policyParser) condition(v any, path string) (condition, error) {
	switch v := v.(type) {
	case string:
		return condition{kind: condString, s: v}, nil
	case json.Number:
		n, err := policyNumber(v, path)
		return condition{kind: condNumber, n: n}, err
	case bool:
		return condition{kind: condBool, b: v}, nil
	case nil:
		return condition{kind: condNull}, nil
	case []any:
		return condition{}, invalidf("filter policy: %s: nested arrays are not allowed", quotePath(path))
	case map[string]any:
		return p.operator(v, path)
	}
	return condition{}, invalidf("filter policy: %s: unsupported value", quotePath(path))
}

// operator parses an object such as {"prefix": "x"}: exactly one key.
func (p *policyParser) operator(obj map[string]any, path string) (condition, error) {
	if len(obj) != 1 {
		return condition{}, invalidf("filter policy: %s: an operator object holds exactly one operator (%s)", quotePath(path), operatorsSummary)
	}
	var op string
	for k := range obj {
		op = k
	}
	arg := obj[op]
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return condition{}, invalidf(`filter policy: %s: %s needs a string, e.g. {%q: "abc"}`, quotePath(path), op, op)
		}
		return condition{kind: stringOpKind(op), s: s}, nil
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return condition{}, invalidf(`filter policy: %s: exists needs true or false, e.g. {"exists": true}`, quotePath(path))
		}
		return condition{kind: condExists, b: b}, nil
	case "numeric":
		return numericCondition(arg, path)
	case "anything-but":
		return anythingBut(arg, path)
	}
	return condition{}, invalidf("filter policy: %s: unknown operator %q; use one of %s", quotePath(path), op, operatorsSummary)
}

func stringOpKind(op string) condKind {
	switch op {
	case "prefix":
		return condPrefix
	case "suffix":
		return condSuffix
	}
	return condEqualsIgnoreCase
}

func anythingBut(arg any, path string) (condition, error) {
	bad := func() (condition, error) {
		return condition{}, invalidf(`filter policy: %s: anything-but needs a string, a number, an array of them, or {"prefix": "abc"}, {"suffix": "abc"} or {"equals-ignore-case": "abc"}`, quotePath(path))
	}
	c := condition{kind: condAnythingBut}
	switch arg := arg.(type) {
	case string:
		c.not = []condition{{kind: condString, s: arg}}
	case json.Number:
		n, err := policyNumber(arg, path)
		if err != nil {
			return condition{}, err
		}
		c.not = []condition{{kind: condNumber, n: n}}
	case []any:
		if len(arg) == 0 {
			return bad()
		}
		for _, v := range arg {
			switch v := v.(type) {
			case string:
				c.not = append(c.not, condition{kind: condString, s: v})
			case json.Number:
				n, err := policyNumber(v, path)
				if err != nil {
					return condition{}, err
				}
				c.not = append(c.not, condition{kind: condNumber, n: n})
			default:
				return bad()
			}
		}
	case map[string]any:
		if len(arg) != 1 {
			return bad()
		}
		for op, v := range arg {
			s, ok := v.(string)
			if !ok || (op != "prefix" && op != "suffix" && op != "equals-ignore-case") {
				return bad()
			}
			c.not = []condition{{kind: stringOpKind(op), s: s}}
		}
	default:
		return bad()
	}
	return c, nil
}

// numericCondition parses ["=", n], [op, n] or [lowerOp, n, upperOp, m].
func numericCondition(arg any, path string) (condition, error) {
	bad := func(why string) (condition, error) {
		return condition{}, invalidf(`filter policy: %s: numeric %s, e.g. {"numeric": [">=", 100]} or {"numeric": [">", 0, "<=", 150]}`, quotePath(path), why)
	}
	arr, ok := arg.([]any)
	if !ok || (len(arr) != 2 && len(arr) != 4) {
		return bad("needs an operator and a number")
	}
	c := condition{kind: condNumeric}
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok {
			return bad("needs an operator and a number")
		}
		num, ok := arr[i+1].(json.Number)
		if !ok {
			return bad("needs an operator and a number")
		}
		n, err := policyNumber(num, path)
		if err != nil {
			return condition{}, err
		}
		switch op {
		case "=":
			if len(arr) != 2 {
				return bad(`"=" stands alone`)
			}
			c.hasLo, c.loIncl, c.lo = true, true, n
			c.hasHi, c.hiIncl, c.hi = true, true, n
		case ">", ">=":
			if i != 0 {
				return bad("gives the lower bound first")
			}
			c.hasLo, c.loIncl, c.lo = true, op == ">=", n
		case "<", "<=":
			if c.hasHi || (i == 2 && !c.hasLo) {
				return bad("takes one lower and one upper bound")
			}
			c.hasHi, c.hiIncl, c.hi = true, op == "<=", n
		default:
			return bad(fmt.Sprintf("operator %q is not one of =, <, <=, >, >=", op))
		}
	}
	if len(arr) == 4 && !(c.hasLo && c.hasHi) {
		return bad("takes one lower and one upper bound")
	}
	if c.hasLo && c.hasHi && c.lo > c.hi {
		return bad("range is empty: the lower bound is above the upper bound")
	}
	return c, nil
}

func policyNumber(v json.Number, path string) (float64, error) {
	n, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(n) || n < -maxPolicyNumber || n > maxPolicyNumber {
		return 0, invalidf("filter policy: %s: number %s is outside -1e9..1e9", quotePath(path), string(v))
	}
	return n, nil
}

// alt is one combination after expanding $or: how many leaf keys it
// tests and how many value combinations it has.
type alt struct{ keys, combos int }

// alternatives expands n's $or groups, failing early once the limits are
// passed (so expansion stays small).
func alternatives(n *policyNode) ([]alt, error) {
	cur := []alt{{0, 1}}
	cross := func(with []alt) error {
		next := make([]alt, 0, len(cur)*len(with))
		for _, a := range cur {
			for _, b := range with {
				c := alt{a.keys + b.keys, a.combos * b.combos}
				if c.combos > maxCombinations || len(next) >= maxCombinations {
					return invalidf("filter policy: more than %d combinations of values", maxCombinations)
				}
				if c.keys > maxPolicyKeys {
					return invalidf("filter policy: %d keys in one combination, at most %d", c.keys, maxPolicyKeys)
				}
				next = append(next, c)
			}
		}
		cur = next
		return nil
	}
	for _, k := range n.keys {
		var with []alt
		if k.child != nil {
			var err error
			if with, err = alternatives(k.child); err != nil {
				return nil, err
			}
		} else {
			with = []alt{{1, len(k.conds)}}
		}
		if err := cross(with); err != nil {
			return nil, err
		}
	}
	for _, group := range n.ors {
		var with []alt
		for _, b := range group {
			bs, err := alternatives(b)
			if err != nil {
				return nil, err
			}
			with = append(with, bs...)
			if len(with) > maxCombinations {
				return nil, invalidf("filter policy: more than %d combinations of values", maxCombinations)
			}
		}
		if err := cross(with); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// Match reports whether a message with these attributes passes the policy,
// evaluated on attributes whatever the policy's scope. Binary attributes
// are not visible to a policy (as in SNS); a String.Array attribute matches
// when any of its elements does.
func (p *FilterPolicy) Match(attrs map[string]Attribute) bool {
	if p == nil || p.root == nil {
		return true
	}
	return p.root.match(attributeValues(attrs))
}

// MatchBody reports whether a message body passes the policy, evaluated on
// the body whatever the policy's scope. A body that is not a JSON object
// passes only a policy that tests nothing.
func (p *FilterPolicy) MatchBody(body string) bool {
	if p == nil || p.root == nil || (len(p.root.keys) == 0 && len(p.root.ors) == 0) {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return false
	}
	return p.root.match(obj)
}

// MatchMessage applies the policy to the part of m its scope names.
func (p *FilterPolicy) MatchMessage(m Message) bool {
	if p.Scope() == ScopeBody {
		return p.MatchBody(m.Body)
	}
	return p.Match(m.Attributes)
}

// attributeValues turns message attributes into the values a policy sees:
// strings, numbers (float64) and, for String.Array, []any.
func attributeValues(attrs map[string]Attribute) map[string]any {
	out := make(map[string]any, len(attrs))
	for name, a := range attrs {
		switch baseType(a.DataType) {
		case "String":
			out[name] = a.StringValue
		case "Number":
			if n, err := strconv.ParseFloat(strings.TrimSpace(a.StringValue), 64); err == nil {
				out[name] = n
			}
		case "String.Array":
			dec := json.NewDecoder(strings.NewReader(a.StringValue))
			dec.UseNumber()
			var arr []any
			if err := dec.Decode(&arr); err == nil && !dec.More() && arr != nil {
				out[name] = arr
			}
		}
	}
	return out
}

func (n *policyNode) match(obj map[string]any) bool {
	for _, k := range n.keys {
		v, present := obj[k.name]
		if k.child != nil {
			child, _ := v.(map[string]any)
			if !k.child.match(child) {
				return false
			}
			continue
		}
		if !matchKey(k.conds, v, present) {
			return false
		}
	}
	for _, group := range n.ors {
		if !slices.ContainsFunc(group, func(b *policyNode) bool { return b.match(obj) }) {
			return false
		}
	}
	return true
}

// matchKey: any condition matching the value (or any element of an array
// value) is enough.
func matchKey(conds []condition, v any, present bool) bool {
	for i := range conds {
		c := &conds[i]
		if c.kind == condExists {
			if c.b == present {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			if slices.ContainsFunc(arr, c.matchValue) {
				return true
			}
			continue
		}
		if c.matchValue(v) {
			return true
		}
	}
	return false
}

func (c *condition) matchValue(v any) bool {
	switch c.kind {
	case condString:
		s, ok := v.(string)
		return ok && s == c.s
	case condNumber:
		n, ok := number(v)
		return ok && n == c.n
	case condBool:
		b, ok := v.(bool)
		return ok && b == c.b
	case condNull:
		return v == nil
	case condPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, c.s)
	case condSuffix:
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, c.s)
	case condEqualsIgnoreCase:
		s, ok := v.(string)
		return ok && strings.EqualFold(s, c.s)
	case condNumeric:
		n, ok := number(v)
		if !ok {
			return false
		}
		if c.hasLo && (n < c.lo || (n == c.lo && !c.loIncl)) {
			return false
		}
		if c.hasHi && (n > c.hi || (n == c.hi && !c.hiIncl)) {
			return false
		}
		return true
	case condAnythingBut:
		switch v.(type) {
		case string:
		case float64, json.Number:
			if _, ok := number(v); !ok {
				return false
			}
		default:
			return false // only strings and numbers can be "anything but"
		}
		for i := range c.not {
			if c.not[i].matchValue(v) {
				return false
			}
		}
		return true
	}
	return false
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		n, err := strconv.ParseFloat(string(v), 64)
		return n, err == nil && !math.IsNaN(n)
	}
	return 0, false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func quotePath(path string) string {
	if path == "" {
		return "policy"
	}
	return strconv.Quote(path)
}

// exampleOf shows a scalar the way it should have been written in an array.
func exampleOf(v any) string {
	switch v := v.(type) {
	case string:
		if utf8.RuneCountInString(v) > 40 {
			return `"…"`
		}
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return "null"
}

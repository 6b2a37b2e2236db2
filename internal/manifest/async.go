package manifest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits of asynchronous invocations, as in Lambda.
const (
	maxRetries     = 2
	minMaxEventAge = time.Minute
	maxMaxEventAge = 6 * time.Hour
)

var (
	asyncKeys = []string{"retries", "maxEventAge", "onSuccess", "onFailure", "dlq"}
	destKinds = []string{kindQueue, kindTopic, kindFunction}
	// awsDestKinds maps AWS service names to destination kinds.
	awsDestKinds = map[string]string{"sqs": kindQueue, "sns": kindTopic, "lambda": kindFunction}
)

func (p *parser) async(e entry, fn string) *Async {
	ap := "functions." + fn + ".async"
	a := &Async{Retries: DefaultRetries, MaxEventAge: DefaultMaxEventAge, Line: e.key.Line}
	if isNull(e.val) {
		return a
	}
	if e.val.Kind != yaml.MappingNode {
		p.add(e.val, ap, describe(e.val)+" where a map of settings belongs; e.g. async: {retries: 1, onFailure: queue:failed-events}")
		return a
	}
	var failure, dlq *yaml.Node
	for _, s := range p.entries(e.val, ap) {
		sp := ap + "." + s.name
		switch s.name {
		case "retries":
			if v, ok := p.count(s.val, sp, "a number of retries", 0, maxRetries, "retries: 1"); ok {
				a.Retries = v
			}
		case "maxEventAge":
			if d, ok := p.duration(s.val, sp, span{minMaxEventAge, maxMaxEventAge, "maxEventAge: 1h"}); ok {
				a.MaxEventAge = d
			}
		case "onSuccess":
			a.OnSuccess, _ = p.destination(s.val, sp, fn)
		case "onFailure":
			failure = s.val
			a.OnFailure, _ = p.destination(s.val, sp, fn)
		case "dlq":
			dlq = s.val
			a.DLQ, _ = p.refName(s.val, sp, kindQueue, "dlq: "+fn+"-dlq")
		default:
			p.unknown(s, ap, asyncKeys)
		}
	}
	if a.OnFailure != "" && a.DLQ != "" {
		later, name := dlq, "dlq"
		if failure.Line > dlq.Line || failure.Line == dlq.Line && failure.Column > dlq.Column {
			later, name = failure, "onFailure"
		}
		p.add(later, ap+"."+name, "onFailure and dlq are both set; a failed event goes to one place: keep onFailure (onFailure: queue:NAME is a dead-letter queue with the failure's details) or dlq")
	}
	return a
}

// destination reads an asynchronous invocation's destination, kind:name.
func (p *parser) destination(n *yaml.Node, sp, fn string) (string, bool) {
	name := sp[strings.LastIndexByte(sp, '.')+1:]
	example := name + ": queue:failed-events"
	v, ok := p.str(n, sp, example)
	if !ok {
		return "", false
	}
	kind, target, found := strings.Cut(v, ":")
	switch {
	case !found || kind == "" || target == "":
		p.add(n, sp, fmt.Sprintf("%q is not a destination; write queue:NAME, topic:NAME or function:NAME, e.g. %s", v, example))
		return "", false
	case !slices.Contains(destKinds, kind):
		if s := destSuggest(kind); s != "" {
			p.add(n, sp, fmt.Sprintf("%q is not a kind of destination; did you mean %s:%s?", kind, s, target))
		} else {
			p.add(n, sp, fmt.Sprintf("%q is not a kind of destination; write queue:NAME, topic:NAME or function:NAME, e.g. %s", kind, example))
		}
		return "", false
	case !validKindName(kind, target):
		p.add(n, sp, fmt.Sprintf("%q is not a valid %s name; use %s, e.g. %s", target, kind, nameRule(kind), example))
		return "", false
	case kind == kindFunction && target == fn:
		p.add(n, sp, fmt.Sprintf("function %s is its own destination: every event sent there would invoke it again; name another function, a queue or a topic, e.g. %s", fn, example))
		return "", false
	}
	if kind != kindFunction {
		p.refs = append(p.refs, ref{kind: kind, name: target, node: n, path: sp, dest: true})
	}
	return v, true
}

// destSuggest suggests a destination kind for a misspelled or AWS one.
func destSuggest(kind string) string {
	if k, ok := awsDestKinds[strings.ToLower(kind)]; ok {
		return k
	}
	return suggest(kind, destKinds)
}

package manifest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits of queues and topics, as in SQS and SNS unless noted.
const (
	maxQueueName    = 80
	maxTopicName    = 64
	maxVisibility   = 12 * time.Hour
	minRetention    = time.Minute
	maxRetention    = 14 * day
	maxDelay        = 15 * time.Minute
	maxReceives     = 1000
	minMessageSize  = 1 << 10
	maxMessageSize  = 1 << 20   // SQS allows 256 KiB; 1 MiB is NATS's default largest message
	maxFilterPolicy = 256 << 10 // bytes of JSON
)

// Kinds of things a setting can name.
const (
	kindQueue    = "queue"
	kindTopic    = "topic"
	kindFunction = "function"
	kindTable    = "table"
	kindBucket   = "bucket"
)

var (
	queueKeys        = []string{"visibility", "retention", "delay", "maxReceives", "dlq", "maxMessageSize"}
	topicKeys        = []string{"subscriptions"}
	subscriptionKeys = []string{"queue", "http", "filter", "raw", "dlq"}
)

// ref is a queue, topic, table or bucket named by a setting. A name the
// manifest declares only as another kind is a problem; a name it does not
// declare may exist on the node, which checks it at deploy.
type ref struct {
	kind, name string
	node       *yaml.Node
	path       string
	dest       bool // written as a destination, kind:name
}

// queueUse is a queue event, checked once every queue and function is known.
type queueUse struct {
	name string
	fn   *Function
	node *yaml.Node
	path string
}

// nameRule describes the names of a kind for messages.
func nameRule(kind string) string {
	switch kind {
	case kindQueue:
		return "1 to 80 letters, digits, '-' and '_'"
	case kindTable:
		return "1 to 64 letters, digits, '-' and '_', starting with a letter or digit"
	case kindBucket:
		return "3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, with no \"..\" and not an IP address (S3's rule)"
	}
	return "1 to 64 letters, digits, '-' and '_'" // topics and functions
}

func validKindName(kind, name string) bool {
	switch kind {
	case kindQueue:
		return validName(name, maxQueueName)
	case kindTopic:
		return validName(name, maxTopicName)
	case kindTable:
		return validTableName(name)
	case kindBucket:
		return validBucketName(name)
	}
	return validFunctionName(name)
}

// refName reads the name of a queue, topic, table or bucket that a setting
// refers to and records it for checkRefs.
func (p *parser) refName(n *yaml.Node, sp, kind, example string) (string, bool) {
	v, ok := p.str(n, sp, example)
	if !ok {
		return "", false
	}
	if !validKindName(kind, v) {
		p.add(n, sp, fmt.Sprintf("%q is not a valid %s name; use %s, e.g. %s", v, kind, nameRule(kind), example))
		return "", false
	}
	p.refs = append(p.refs, ref{kind: kind, name: v, node: n, path: sp})
	return v, true
}

// section returns the entries of a top-level map of names to settings;
// anything but a map is a problem, with example as the fix.
func (p *parser) section(e entry, kind, example string) []entry {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.MappingNode {
		p.add(e.val, e.name, describe(e.val)+" where a map of "+kind+" names to settings belongs; e.g. "+example)
		return nil
	}
	return p.entries(e.val, e.name)
}

func (p *parser) queues(e entry) []*Queue {
	var qs []*Queue
	for _, qe := range p.section(e, "queue", "queues: {orders: {visibility: 1m}}") {
		qs = append(qs, p.queue(qe))
	}
	return qs
}

func (p *parser) queue(e entry) *Queue {
	qp := "queues." + e.name
	q := &Queue{Name: e.name, Visibility: DefaultVisibility, Retention: DefaultRetention, MaxMessageBytes: DefaultMaxMessageBytes, Line: e.key.Line}
	if !validName(e.name, maxQueueName) {
		p.add(e.key, qp, fmt.Sprintf("%q is not a valid queue name; use %s, e.g. orders or orders-dlq", e.name, nameRule(kindQueue)))
	}
	if !isNull(e.val) && e.val.Kind != yaml.MappingNode {
		p.add(e.val, qp, fmt.Sprintf("%s where a map of settings belongs; e.g. %s: {visibility: 1m}, or %s: {} for the defaults", describe(e.val), e.name, e.name))
		return q
	}
	var receivesNode, dlqNode *yaml.Node
	for _, s := range p.entries(e.val, qp) {
		sp := qp + "." + s.name
		switch s.name {
		case "visibility":
			if d, ok := p.duration(s.val, sp, span{0, maxVisibility, "visibility: 30s"}); ok {
				q.Visibility = d
			}
		case "retention":
			if d, ok := p.duration(s.val, sp, span{minRetention, maxRetention, "retention: 4d"}); ok {
				q.Retention = d
			}
		case "delay":
			if d, ok := p.duration(s.val, sp, span{0, maxDelay, "delay: 10s"}); ok {
				q.Delay = d
			}
		case "maxReceives":
			receivesNode = s.val
			q.MaxReceives, _ = p.count(s.val, sp, "a number of receives", 1, maxReceives, "maxReceives: 5")
		case "dlq":
			dlqNode = s.val
			if name, ok := p.refName(s.val, sp, kindQueue, "dlq: "+e.name+"-dlq"); ok {
				if name == e.name {
					p.add(s.val, sp, fmt.Sprintf("queue %s is its own dlq: a message that failed would come back to the queue it failed in; name another queue, e.g. dlq: %s-dlq", e.name, e.name))
				} else {
					q.DLQ = name
				}
			}
		case "maxMessageSize":
			if b, ok := p.size(s.val, sp, minMessageSize, maxMessageSize, "maxMessageSize: 256KiB"); ok {
				q.MaxMessageBytes = b
			}
		default:
			p.unknown(s, qp, queueKeys)
		}
	}
	if receivesNode != nil && dlqNode == nil {
		p.add(receivesNode, qp+".maxReceives", fmt.Sprintf("maxReceives needs a dlq, the queue where a message received that many times goes; add one, e.g. dlq: %s-dlq (declared under queues), or remove maxReceives", e.name))
	}
	if q.DLQ != "" && receivesNode == nil {
		q.MaxReceives = DefaultMaxReceives
	}
	return q
}

func (p *parser) topics(e entry) []*Topic {
	var ts []*Topic
	for _, te := range p.section(e, "topic", "topics: {order-events: {}}") {
		ts = append(ts, p.topic(te))
	}
	return ts
}

func (p *parser) topic(e entry) *Topic {
	tp := "topics." + e.name
	t := &Topic{Name: e.name, Line: e.key.Line}
	if !validName(e.name, maxTopicName) {
		p.add(e.key, tp, fmt.Sprintf("%q is not a valid topic name; use %s, e.g. order-events", e.name, nameRule(kindTopic)))
	}
	if !isNull(e.val) && e.val.Kind != yaml.MappingNode {
		p.add(e.val, tp, fmt.Sprintf("%s where a map of settings belongs; e.g. %s: {}, or %s: {subscriptions: [{queue: audit}]}", describe(e.val), e.name, e.name))
		return t
	}
	for _, s := range p.entries(e.val, tp) {
		switch s.name {
		case "subscriptions":
			t.Subscriptions = p.subscriptions(s.val, tp+".subscriptions", e.name)
		default:
			p.unknown(s, tp, topicKeys)
		}
	}
	return t
}

func (p *parser) subscriptions(n *yaml.Node, sp, topic string) []*Subscription {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, sp, describe(n)+" where a list of subscriptions belongs; e.g. subscriptions: [{queue: audit}, {http: https://example.com/hook}]")
		return nil
	}
	const example = "- queue: audit or - http: https://example.com/hook"
	var subs []*Subscription
	seen := make(map[string]int) // target → line
	for i, item := range p.items(n, sp) {
		ip := fmt.Sprintf("%s[%d]", sp, i)
		if item.Kind != yaml.MappingNode {
			p.add(item, ip, describe(item)+" where a subscription belongs; a subscription is a map that names a queue or an HTTP endpoint, e.g. "+example)
			continue
		}
		s := &Subscription{Line: item.Line}
		var queueNode, httpNode, dlqNode *yaml.Node
		misspelled := false
		for _, k := range p.entries(item, ip) {
			kp := ip + "." + k.name
			switch k.name {
			case "queue":
				queueNode = k.val
				s.Queue, _ = p.refName(k.val, kp, kindQueue, "queue: audit")
			case "http":
				httpNode = k.val
				s.HTTP, _ = p.endpoint(k.val, kp)
			case "filter":
				s.Filter = p.filter(k.val, kp, FilterScopeAttributes, true)
			case "raw":
				s.Raw, _ = p.boolean(k.val, kp, "raw: true")
			case "dlq":
				dlqNode = k.val
				s.DLQ, _ = p.refName(k.val, kp, kindQueue, "dlq: "+topic+"-dlq")
			default:
				if meant := p.unknown(k, ip, subscriptionKeys); meant == "queue" || meant == "http" {
					misspelled = true
				}
			}
		}
		var target string
		switch {
		case queueNode == nil && httpNode == nil:
			if !misspelled {
				p.add(item, ip, "no queue or http; a subscription delivers to a queue or an HTTP endpoint, e.g. "+example)
			}
			continue
		case queueNode != nil && httpNode != nil:
			later, name := httpNode, "http"
			if queueNode.Line > httpNode.Line || queueNode.Line == httpNode.Line && queueNode.Column > httpNode.Column {
				later, name = queueNode, "queue"
			}
			p.add(later, ip+"."+name, "queue and http are both set; a subscription delivers to one place: keep one, and add a second subscription for the other")
			continue
		case s.Queue != "":
			target = "queue " + s.Queue
			if dlqNode != nil && s.DLQ == s.Queue {
				p.add(dlqNode, ip+".dlq", fmt.Sprintf("the dlq is the queue this subscription delivers to, where a message that cannot be delivered cannot go either; name another queue, e.g. dlq: %s-dlq", topic))
			}
		case s.HTTP != "":
			target = "http " + s.HTTP
		default:
			continue // the target is reported
		}
		if line, dup := seen[target]; dup {
			p.add(item, ip, fmt.Sprintf("topic %s already delivers to %s (line %d); a subscription per target: remove one, or merge their filters", topic, target, line))
			continue
		}
		seen[target] = item.Line
		subs = append(subs, s)
	}
	return subs
}

// endpoint reads an HTTP subscription's URL.
func (p *parser) endpoint(n *yaml.Node, sp string) (string, bool) {
	const example = "http: https://example.com/hook"
	v, ok := p.str(n, sp, example)
	if !ok {
		return "", false
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || strings.ContainsAny(v, " \t") || u.Opaque != "" || u.Host == "" || u.Scheme != "http" && u.Scheme != "https":
		p.add(n, sp, fmt.Sprintf("%q is not an http or https URL; write the endpoint's full address, e.g. %s", v, example))
	case u.Fragment != "" || strings.HasSuffix(v, "#"):
		p.add(n, sp, fmt.Sprintf("%q has a fragment (#...), which is never sent to the endpoint; remove it, e.g. %s", v, example))
	default:
		return v, true
	}
	return "", false
}

// filter reads a filter policy: a map, converted to JSON and, when check is
// set, checked with Checks.FilterPolicy for scope.
func (p *parser) filter(n *yaml.Node, sp, scope string, check bool) json.RawMessage {
	const example = "filter: {store: [example]}"
	if n.Kind != yaml.MappingNode {
		p.add(n, sp, describe(n)+" where a filter policy belongs: a map from attribute names to the values they accept, e.g. "+example)
		return nil
	}
	js, ok := p.jsonValue(n, sp)
	if !ok {
		return nil
	}
	if len(js) > maxFilterPolicy {
		p.add(n, sp, fmt.Sprintf("the filter policy takes %d bytes as JSON, more than the %d allowed (as in SNS); match on fewer values, e.g. a prefix: filter: {store: [{prefix: ex}]}", len(js), maxFilterPolicy))
		return nil
	}
	if check && p.checks.FilterPolicy != nil {
		if err := p.checks.FilterPolicy(js, scope); err != nil {
			p.add(n, sp, checked("the filter policy", err, "write it as an SNS filter policy, e.g. "+example))
			return nil
		}
	}
	return js
}

// checkRefs reports names that the manifest declares, but only as another
// kind: a queue setting naming a topic, a table grant naming a bucket.
func (p *parser) checkRefs(proj *Project) {
	declared := map[string]map[string]bool{kindQueue: {}, kindTopic: {}, kindTable: {}, kindBucket: {}}
	for _, q := range proj.Queues {
		declared[kindQueue][q.Name] = true
	}
	for _, t := range proj.Topics {
		declared[kindTopic][t.Name] = true
	}
	for _, t := range proj.Tables {
		declared[kindTable][t.Name] = true
	}
	for _, b := range proj.Buckets {
		declared[kindBucket][b.Name] = true
	}
	for _, r := range p.refs {
		if declared[r.kind][r.name] {
			continue
		}
		other := ""
		for _, k := range []string{kindQueue, kindTopic, kindTable, kindBucket} {
			if k != r.kind && declared[k][r.name] {
				other = k
				break
			}
		}
		if other == "" {
			continue
		}
		section := r.kind + "s"
		fix := fmt.Sprintf("name a %s here, or declare one: %s: {%s: {}}", r.kind, section, r.name)
		if r.dest && (other == kindQueue || other == kindTopic) {
			fix = fmt.Sprintf("write %s:%s, or declare a %s: %s: {%s: {}}", other, r.name, r.kind, section, r.name)
		}
		p.add(r.node, r.path, fmt.Sprintf("%s is a %s in this manifest, not a %s; %s", r.name, other, r.kind, fix))
	}
}

// checkQueueUses reports a queue that triggers more than one function, and a
// declared queue whose visibility is shorter than its function's timeout.
func (p *parser) checkQueueUses(proj *Project) {
	declared := make(map[string]*Queue, len(proj.Queues))
	for _, q := range proj.Queues {
		declared[q.Name] = q
	}
	first := make(map[string]queueUse)
	for _, u := range p.uses {
		if f, dup := first[u.name]; dup {
			p.add(u.node, u.path, fmt.Sprintf("queue %s already triggers function %s (line %d); a queue has one consumer function, as on AWS: keep one of the events, or send to a topic that each function subscribes to", u.name, f.fn.Name, f.node.Line))
			continue
		}
		first[u.name] = u
		q := declared[u.name]
		if q == nil || q.Visibility >= u.fn.Timeout {
			continue
		}
		p.add(u.node, u.path, fmt.Sprintf("the visibility of queue %s (%s) is shorter than the timeout of function %s (%s): a message would be delivered again while the function still handles it; give queue %s (line %d) at least the timeout, e.g. visibility: %s (six times the timeout, as AWS advises), or shorten the timeout",
			q.Name, fmtDuration(q.Visibility), u.fn.Name, fmtDuration(u.fn.Timeout), q.Name, q.Line, fmtDuration(min(6*u.fn.Timeout, maxVisibility))))
	}
}

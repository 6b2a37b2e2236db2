package manifest

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits of queue, topic and schedule events, as in Lambda and EventBridge.
const (
	maxBatch            = 10000
	maxBatchNoWindow    = 10 // a larger batch needs a window, as in Lambda
	maxWindow           = 5 * time.Minute
	minEventConcurrency = 2
	maxEventConcurrency = 1000
	maxScheduleInput    = 8192 // bytes of JSON
)

var (
	queueEventKeys = []string{"name", "batch", "window", "concurrency"}
	topicEventKeys = []string{"name", "filter", "filterScope"}
	scheduleKeys   = []string{"expression", "timezone", "input"}
	filterScopes   = []string{FilterScopeAttributes, FilterScopeBody}
)

// eventName reads the named form of a queue or topic event: a scalar is the
// name; a map holds it under name and settings read by each. It returns the
// name's node and path, or nil when there is none (reported).
func (p *parser) eventName(e entry, ep, kind, example string, each func(s entry, sp string) (misspelledName bool)) (*yaml.Node, string) {
	v := e.val
	switch {
	case isNull(v):
		p.add(e.key, ep, fmt.Sprintf("no %s; name it, e.g. %s", kind, example))
	case v.Kind == yaml.ScalarNode:
		return v, ep
	case v.Kind == yaml.MappingNode:
		var node *yaml.Node
		var path string
		misspelled := false
		for _, s := range p.entries(v, ep) {
			sp := ep + "." + s.name
			if s.name == "name" {
				node, path = s.val, sp
				continue
			}
			misspelled = each(s, sp) || misspelled
		}
		if node == nil && !misspelled {
			p.add(e.key, ep, fmt.Sprintf("no name; name the %s, e.g. %s", kind, example))
		}
		return node, path
	default:
		p.add(v, ep, describe(v)+" where a "+kind+" belongs; e.g. "+example)
	}
	return nil, ""
}

func (p *parser) queueEvent(e entry, ep string, f *Function) *QueueEvent {
	const example = "queue: orders or queue: {name: orders, batch: 10}"
	ev := &QueueEvent{Batch: DefaultBatch}
	var batch *yaml.Node
	nameNode, namePath := p.eventName(e, ep, kindQueue, example, func(s entry, sp string) bool {
		switch s.name {
		case "batch":
			if v, ok := p.count(s.val, sp, "a number of messages", 1, maxBatch, "batch: 10"); ok {
				ev.Batch, batch = v, s.val
			}
		case "window":
			if d, ok := p.duration(s.val, sp, span{0, maxWindow, "window: 1s"}); ok {
				ev.Window = d
			}
		case "concurrency":
			if v, ok := p.count(s.val, sp, "a number of batches in flight", minEventConcurrency, maxEventConcurrency, "concurrency: 5"); ok {
				ev.Concurrency = v
			}
		default:
			return p.unknown(s, ep, queueEventKeys) == "name"
		}
		return false
	})
	if nameNode != nil {
		if name, ok := p.refName(nameNode, namePath, kindQueue, "queue: orders"); ok {
			ev.Name = name
			p.uses = append(p.uses, queueUse{name: name, fn: f, node: nameNode, path: namePath})
		}
	}
	if batch != nil && ev.Batch > maxBatchNoWindow && ev.Window == 0 {
		name := ev.Name
		if name == "" {
			name = "orders"
		}
		p.add(batch, ep+".batch", fmt.Sprintf("a batch of more than %d needs a window, the time to gather it, as on AWS; add one, e.g. queue: {name: %s, batch: %d, window: 1s}", maxBatchNoWindow, name, ev.Batch))
	}
	return ev
}

func (p *parser) topicEvent(e entry, ep string) *TopicEvent {
	const example = "topic: order-events or topic: {name: order-events, filter: {kind: [created]}}"
	ev := &TopicEvent{FilterScope: DefaultFilterScope}
	var filter *yaml.Node
	var filterPath string
	scopeOK := true
	nameNode, namePath := p.eventName(e, ep, kindTopic, example, func(s entry, sp string) bool {
		switch s.name {
		case "filter":
			filter, filterPath = s.val, sp // read once the scope is known
		case "filterScope":
			var v string
			if v, scopeOK = p.str(s.val, sp, "filterScope: body"); scopeOK {
				scopeOK = p.filterScope(s.val, sp, v)
				ev.FilterScope = v
			}
		default:
			return p.unknown(s, ep, topicEventKeys) == "name"
		}
		return false
	})
	if filter != nil {
		ev.Filter = p.filter(filter, filterPath, ev.FilterScope, scopeOK)
	}
	if nameNode != nil {
		ev.Name, _ = p.refName(nameNode, namePath, kindTopic, "topic: order-events")
	}
	return ev
}

func (p *parser) filterScope(n *yaml.Node, sp, v string) bool {
	switch v {
	case FilterScopeAttributes, FilterScopeBody:
		return true
	case "MessageAttributes":
		p.add(n, sp, fmt.Sprintf("%q is AWS's name; write filterScope: attributes", v))
	case "MessageBody":
		p.add(n, sp, fmt.Sprintf("%q is AWS's name; write filterScope: body", v))
	default:
		msg := fmt.Sprintf("%q is not a filter scope", v)
		if s := suggest(v, filterScopes); s != "" {
			msg += "; did you mean " + s + "?"
		} else {
			msg += "; use attributes (the message attributes, the default) or body (the message, a JSON object), e.g. filterScope: body"
		}
		p.add(n, sp, msg)
	}
	return false
}

func (p *parser) scheduleEvent(e entry, ep string) *ScheduleEvent {
	const example = `schedule: rate(5 minutes) or schedule: {expression: "cron(0 12 * * ? *)", timezone: Europe/Paris}`
	ev := &ScheduleEvent{}
	var exprNode, tzNode *yaml.Node
	exprPath, tzPath := ep, ""
	v := e.val
	switch {
	case isNull(v):
		p.add(e.key, ep, "no expression; give the schedule, e.g. "+example)
		return ev
	case v.Kind == yaml.ScalarNode:
		exprNode = v
	case v.Kind == yaml.MappingNode:
		misspelled := false
		for _, s := range p.entries(v, ep) {
			sp := ep + "." + s.name
			switch s.name {
			case "expression":
				exprNode, exprPath = s.val, sp
			case "timezone":
				tzNode, tzPath = s.val, sp
			case "input":
				ev.Input = p.scheduleInput(s.val, sp)
			default:
				misspelled = p.unknown(s, ep, scheduleKeys) == "expression" || misspelled
			}
		}
		if exprNode == nil {
			if !misspelled {
				p.add(e.key, ep, "no expression; give the schedule, e.g. "+example)
			}
			return ev
		}
	default:
		p.add(v, ep, describe(v)+" where a schedule belongs; e.g. "+example)
		return ev
	}
	expr, ok := p.str(exprNode, exprPath, "schedule: rate(5 minutes)")
	if ok {
		ev.Expression = expr
	}
	if tzNode != nil {
		tz, tzOK := p.str(tzNode, tzPath, "timezone: Europe/Paris")
		if tzOK {
			tzOK = p.timezone(tzNode, tzPath, tz)
			ev.Timezone = tz
		}
		ok = ok && tzOK
	}
	if ok && p.checks.Schedule != nil {
		if err := p.checks.Schedule(ev.Expression, ev.Timezone); err != nil {
			p.add(exprNode, exprPath, checked("the schedule", err, "write rate(5 minutes), cron(0 12 * * ? *) or a 5-field cron line, e.g. 0 12 * * *"))
		}
	}
	return ev
}

// timezone checks an IANA time zone name.
func (p *parser) timezone(n *yaml.Node, sp, tz string) bool {
	if tz == "Local" {
		p.add(n, sp, "Local is the zone of the machine a node runs on, which can differ between nodes; name the zone, e.g. timezone: Europe/Paris")
		return false
	}
	if _, err := time.LoadLocation(tz); err != nil {
		p.add(n, sp, fmt.Sprintf("%q is not a time zone gureum knows; use an IANA zone name, e.g. timezone: Europe/Paris or timezone: UTC", tz))
		return false
	}
	return true
}

// scheduleInput reads the constant event a schedule sends: any value,
// converted to JSON.
func (p *parser) scheduleInput(n *yaml.Node, sp string) json.RawMessage {
	js, ok := p.jsonValue(n, sp)
	if !ok {
		return nil
	}
	if len(js) > maxScheduleInput {
		p.add(n, sp, fmt.Sprintf("the input takes %d bytes as JSON, more than the %d allowed (as in EventBridge); send less, e.g. an id the function looks up", len(js), maxScheduleInput))
		return nil
	}
	return js
}

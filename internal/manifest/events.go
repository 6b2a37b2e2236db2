package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	eventKinds = []string{"http", "queue", "schedule", "bucket", "topic", "stream"}
	httpKeys   = []string{"method", "path", "auth"}
	methods    = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}
	authModes  = []string{AuthNone, "apikey", "jwt"}
)

// route is an HTTP event recorded for the project-wide conflict check.
type route struct {
	method, path, shape, fn string
	at                      string // problem path
	node                    *yaml.Node
}

// eventForms are the settings of each event kind, for suggestions and for
// settings indented one level too little.
var eventForms = map[string]struct {
	keys    []string
	example string
}{
	"http":     {httpKeys, "- http: {method: GET, path: /hello}"},
	"queue":    {queueEventKeys, "- queue: {name: orders, batch: 10}"},
	"topic":    {topicEventKeys, "- topic: {name: order-events, filter: {kind: [created]}}"},
	"schedule": {scheduleKeys, "- schedule: {expression: rate(5 minutes), timezone: Europe/Paris}"},
	"bucket":   {bucketEventKeys, "- bucket: {name: uploads, on: [created], prefix: images/}"},
}

func (p *parser) events(n *yaml.Node, sp string, f *Function) []Event {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, sp, describe(n)+" where a list of events belongs; e.g. events: [{http: GET /hello}]")
		return nil
	}
	var evs []Event
	topics := make(map[string]int) // topic → line of the first event
	for i, item := range p.items(n, sp) {
		ip := sp + "[" + strconv.Itoa(i) + "]"
		if item.Kind != yaml.MappingNode {
			p.add(item, ip, describe(item)+" where an event belongs; an event is a map with one key, its kind, e.g. - http: GET /hello")
			continue
		}
		es := p.entries(item, ip)
		if len(es) == 0 {
			p.add(item, ip, "an empty event; give its kind, e.g. - http: GET /hello")
			continue
		}
		if len(es) > 1 {
			p.tooManyKinds(es, ip)
			continue
		}
		e := es[0]
		ev := Event{Line: item.Line}
		switch e.name {
		case "http":
			ev.HTTP = p.httpEvent(e, ip+".http", f.Name)
		case "queue":
			ev.Queue = p.queueEvent(e, ip+".queue", f)
		case "topic":
			ev.Topic = p.topicEvent(e, ip+".topic")
			if t := ev.Topic.Name; t != "" {
				if line, dup := topics[t]; dup {
					p.add(e.val, ip+".topic", fmt.Sprintf("function %s already subscribes to topic %s (line %d); one subscription per topic and function: keep one event, and combine the filters (a filter policy can list several values, or use $or)", f.Name, t, line))
				} else {
					topics[t] = item.Line
				}
			}
		case "schedule":
			ev.Schedule = p.scheduleEvent(e, ip+".schedule")
		case "bucket":
			ev.Bucket = p.bucketEvent(e, ip+".bucket", f, item.Line)
		case "stream":
			p.add(e.key, ip+"."+e.name, e.name+" events are not supported by this version of gureum yet; remove this event for now")
			continue
		default:
			p.unknown(e, ip, eventKinds)
			continue
		}
		evs = append(evs, ev)
	}
	return evs
}

// tooManyKinds reports an event item with more than one key, most often an
// event's settings indented one level too little.
func (p *parser) tooManyKinds(es []entry, ip string) {
	first := es[0]
	form, known := eventForms[first.name]
	for _, e := range es[1:] {
		if known && slices.Contains(form.keys, e.name) {
			p.add(e.key, ip+"."+e.name, fmt.Sprintf("%s belongs to the %s event; indent it under %s:, e.g. %s", e.name, first.name, first.name, form.example))
			continue
		}
		p.add(e.key, ip+"."+e.name, fmt.Sprintf("a second key in one event (after %s); an event has one kind: start a new list item with '- ', e.g. - http: GET /hello", first.name))
	}
}

func (p *parser) httpEvent(e entry, hp, fn string) *HTTPEvent {
	ev := &HTTPEvent{Method: DefaultMethod, Auth: DefaultAuth}
	const example = "http: GET /hello or http: {method: GET, path: /hello}"
	var methodNode, pathNode *yaml.Node
	misspelled := false // a key close to path
	pathAt, methodAt := hp, hp
	v := e.val
	switch {
	case isNull(v):
		p.add(e.key, hp, "no route; give a method and a path, e.g. "+example)
		return ev
	case v.Kind == yaml.ScalarNode:
		// Shorthand: "METHOD /path" or "/path".
		fields := strings.Fields(v.Value)
		switch {
		case len(fields) == 2:
			ev.Method, ev.Path = fields[0], fields[1]
			methodNode, pathNode = v, v
		case len(fields) == 1 && strings.HasPrefix(fields[0], "/"):
			ev.Path, pathNode = fields[0], v
		default:
			p.add(v, hp, fmt.Sprintf("%q is not a route; write a method and a path, e.g. %s", v.Value, example))
			return ev
		}
	case v.Kind == yaml.MappingNode:
		for _, s := range p.entries(v, hp) {
			sp := hp + "." + s.name
			switch s.name {
			case "method":
				if m, ok := p.str(s.val, sp, "method: GET"); ok {
					ev.Method, methodNode, methodAt = m, s.val, sp
				}
			case "path":
				if path, ok := p.str(s.val, sp, "path: /hello"); ok {
					ev.Path = path
				}
				pathNode, pathAt = s.val, sp
			case "auth":
				if a, ok := p.str(s.val, sp, "auth: none"); ok {
					p.auth(s.val, sp, a)
					ev.Auth = a
				}
			default:
				misspelled = p.unknown(s, hp, httpKeys) == "path" || misspelled
			}
		}
		if pathNode == nil {
			if misspelled {
				return ev
			}
			p.add(e.key, hp, "no path; give the route's path, e.g. http: {method: GET, path: /hello}")
			return ev
		}
	default:
		p.add(v, hp, describe(v)+" where a route belongs; e.g. "+example)
		return ev
	}
	ok := true
	if methodNode != nil {
		if m := strings.ToUpper(ev.Method); slices.Contains(methods, m) {
			ev.Method = m
		} else {
			ok = false
			p.add(methodNode, methodAt, fmt.Sprintf("%q is not a method gureum routes; use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY (any method), e.g. method: GET", ev.Method))
		}
	}
	if ev.Path == "" {
		return ev // reported by str
	}
	segs, err := ParseRoutePath(ev.Path)
	if err != nil {
		p.add(pathNode, pathAt, err.Error())
		return ev
	}
	if ok {
		p.routes = append(p.routes, route{method: ev.Method, path: ev.Path, shape: routeShape(segs), fn: fn, at: pathAt, node: pathNode})
	}
	return ev
}

func (p *parser) auth(n *yaml.Node, sp, a string) {
	switch a {
	case AuthNone:
	case "apikey", "jwt":
		p.add(n, sp, "auth "+a+" is not supported by this version of gureum yet, and the route is refused rather than served without it; remove the route, or write auth: none to make it public")
	default:
		msg := fmt.Sprintf("%q is not an auth mode", a)
		if s := suggest(a, authModes); s != "" {
			msg += "; did you mean " + s + "?"
		} else {
			msg += "; use none (apikey and jwt are coming), e.g. auth: none"
		}
		p.add(n, sp, msg)
	}
}

// checkRoutes reports routes that match the same requests: the same method
// and the same path shape (parameters compared by position, not name).
// ANY and a specific method on one shape do not conflict: the specific
// method wins, as in API Gateway.
func (p *parser) checkRoutes() {
	first := make(map[string]route)
	for _, r := range p.routes {
		key := r.method + " " + r.shape
		f, dup := first[key]
		if !dup {
			first[key] = r
			continue
		}
		p.add(r.node, r.at, fmt.Sprintf("route %s %s of function %s conflicts with %s %s of function %s (line %d): both match the same requests; change the path or method of one",
			r.method, r.path, r.fn, f.method, f.path, f.fn, f.node.Line))
	}
}

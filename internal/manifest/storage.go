package manifest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits of tables, buckets and bucket events.
const (
	maxTableName           = 64
	minBucketName          = 3  // S3's rule
	maxBucketName          = 63 // S3's rule
	maxKeyFilter           = 1024
	maxBucketNotifications = 100 // per bucket in one manifest
)

var (
	bucketKeys             = []string{"events"}
	bucketNotificationKeys = []string{"queue", "topic", "on", "prefix", "suffix"}
	bucketEventKeys        = []string{"name", "on", "prefix", "suffix"}
	bucketKinds            = []string{BucketCreated, BucketRemoved}
)

// bucketUse is one notification of a bucket, a function's bucket event or
// a bucket's own, checked for overlaps once every one is known.
type bucketUse struct {
	bucket         string
	on             []string
	prefix, suffix string
	target         string // "function resize", "queue jobs"
	line           int    // line of the event or list item
	node           *yaml.Node
	path           string
}

func validTableName(s string) bool {
	return validName(s, maxTableName) && isAlnum(s[0])
}

// validBucketName follows S3's rule for bucket names: 3 to 63 lower-case
// letters, digits, '-' and '.', starting and ending with a letter or digit,
// no "..", and not an IPv4 address.
func validBucketName(s string) bool {
	if len(s) < minBucketName || len(s) > maxBucketName || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		if !isLowerAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return false
	}
	return true
}

func isLowerAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

func (p *parser) tables(e entry) []*Table {
	var ts []*Table
	for _, te := range p.section(e, "table", "tables: {orders: {}}") {
		tp := "tables." + te.name
		if !validTableName(te.name) {
			p.add(te.key, tp, fmt.Sprintf("%q is not a valid table name; use %s, e.g. orders", te.name, nameRule(kindTable)))
		}
		switch {
		case isNull(te.val):
		case te.val.Kind != yaml.MappingNode:
			p.add(te.val, tp, fmt.Sprintf("%s where a map of settings belongs; a table has no settings yet: write %s: {}", describe(te.val), te.name))
		default:
			for _, s := range p.entries(te.val, tp) {
				p.add(s.key, tp+"."+s.name, fmt.Sprintf("unknown key %q; a table has no settings yet: write %s: {}", s.name, te.name))
			}
		}
		ts = append(ts, &Table{Name: te.name, Line: te.key.Line})
	}
	return ts
}

func (p *parser) buckets(e entry) []*Bucket {
	var bs []*Bucket
	for _, be := range p.section(e, "bucket", "buckets: {uploads: {}}") {
		bs = append(bs, p.bucket(be))
	}
	return bs
}

func (p *parser) bucket(e entry) *Bucket {
	bp := "buckets." + e.name
	b := &Bucket{Name: e.name, Line: e.key.Line}
	valid := validBucketName(e.name)
	if !valid {
		p.add(e.key, bp, fmt.Sprintf("%q is not a valid bucket name; use %s, e.g. uploads or shop.images", e.name, nameRule(kindBucket)))
	}
	if !isNull(e.val) && e.val.Kind != yaml.MappingNode {
		p.add(e.val, bp, fmt.Sprintf("%s where a map of settings belongs; e.g. %s: {}, or %s: {events: [{queue: jobs}]}", describe(e.val), e.name, e.name))
		return b
	}
	for _, s := range p.entries(e.val, bp) {
		switch s.name {
		case "events":
			b.Notifications = p.bucketNotifications(s.val, bp+".events", e.name, valid)
		default:
			p.unknown(s, bp, bucketKeys)
		}
	}
	return b
}

// bucketNotifications reads a bucket's events: where its object events go
// besides the functions whose events name it.
func (p *parser) bucketNotifications(n *yaml.Node, sp, bucket string, valid bool) []*BucketNotification {
	const example = "- {queue: jobs, on: [created], prefix: images/}"
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, sp, describe(n)+" where a list of notifications belongs; e.g. events: [{queue: jobs}, {topic: uploads, on: [created, removed]}]")
		return nil
	}
	var out []*BucketNotification
	for i, item := range p.items(n, sp) {
		ip := sp + "[" + strconv.Itoa(i) + "]"
		if item.Kind != yaml.MappingNode {
			p.add(item, ip, describe(item)+" where a notification belongs; a notification is a map that names a queue or a topic, e.g. "+example)
			continue
		}
		bn := &BucketNotification{Line: item.Line}
		var queueNode, topicNode *yaml.Node
		var on []string
		onOK, filterOK, misspelled := true, true, false
		for _, k := range p.entries(item, ip) {
			kp := ip + "." + k.name
			switch k.name {
			case "queue":
				queueNode = k.val
				bn.Queue, _ = p.refName(k.val, kp, kindQueue, "queue: jobs")
			case "topic":
				topicNode = k.val
				bn.Topic, _ = p.refName(k.val, kp, kindTopic, "topic: uploads")
			case "on":
				on, onOK = p.bucketOn(k.val, kp)
			case "prefix":
				var ok bool
				bn.Prefix, ok = p.keyFilter(k.val, kp, "prefix: images/")
				filterOK = filterOK && ok
			case "suffix":
				var ok bool
				bn.Suffix, ok = p.keyFilter(k.val, kp, "suffix: .jpg")
				filterOK = filterOK && ok
			case "function", "lambda":
				p.add(k.key, kp, fmt.Sprintf("a function receives a bucket's events through its own events: add - bucket: %s to the function's events, and remove this notification", bucket))
				misspelled = true
			default:
				if meant := p.unknown(k, ip, bucketNotificationKeys); meant == "queue" || meant == "topic" {
					misspelled = true
				}
			}
		}
		if on == nil {
			on = []string{BucketCreated}
		}
		bn.On = on
		switch {
		case queueNode == nil && topicNode == nil:
			if !misspelled {
				p.add(item, ip, "no queue or topic; a notification sends the bucket's events to a queue or a topic, e.g. "+example)
			}
			continue
		case queueNode != nil && topicNode != nil:
			later, name := topicNode, "topic"
			if queueNode.Line > topicNode.Line || queueNode.Line == topicNode.Line && queueNode.Column > topicNode.Column {
				later, name = queueNode, "queue"
			}
			p.add(later, ip+"."+name, "queue and topic are both set; a notification goes to one place: keep one, and add a second notification for the other")
			continue
		case bn.Queue == "" && bn.Topic == "":
			continue // the name is reported
		}
		if valid && onOK && filterOK {
			target := "queue " + bn.Queue
			if bn.Topic != "" {
				target = "topic " + bn.Topic
			}
			p.bucketUses = append(p.bucketUses, bucketUse{bucket: bucket, on: on, prefix: bn.Prefix, suffix: bn.Suffix, target: target, line: item.Line, node: item, path: ip})
		}
		out = append(out, bn)
	}
	return out
}

// bucketEvent reads a function's bucket event: a bucket name, or a map with
// the name and filters.
func (p *parser) bucketEvent(e entry, ep string, f *Function, line int) *BucketEvent {
	const example = "bucket: uploads or bucket: {name: uploads, on: [created], prefix: images/}"
	ev := &BucketEvent{}
	ok := true // the filters are valid
	nameNode, namePath := p.eventName(e, ep, kindBucket, example, func(s entry, sp string) bool {
		var sok bool
		switch s.name {
		case "on":
			ev.On, sok = p.bucketOn(s.val, sp)
			ok = ok && sok
		case "prefix":
			ev.Prefix, sok = p.keyFilter(s.val, sp, "prefix: images/")
			ok = ok && sok
		case "suffix":
			ev.Suffix, sok = p.keyFilter(s.val, sp, "suffix: .jpg")
			ok = ok && sok
		default:
			return p.unknown(s, ep, bucketEventKeys) == "name"
		}
		return false
	})
	if ev.On == nil {
		ev.On = []string{BucketCreated}
	}
	if nameNode != nil {
		var named bool
		if ev.Name, named = p.refName(nameNode, namePath, kindBucket, "bucket: uploads"); named && ok {
			p.bucketUses = append(p.bucketUses, bucketUse{bucket: ev.Name, on: ev.On, prefix: ev.Prefix, suffix: ev.Suffix, target: "function " + f.Name, line: line, node: e.val, path: ep})
		}
	}
	return ev
}

// bucketOn reads the kinds of object events a notification takes: one or a
// list of created and removed, or their AWS names.
func (p *parser) bucketOn(n *yaml.Node, sp string) ([]string, bool) {
	const example = "on: [created] or on: [created, removed]"
	var items []*yaml.Node
	switch {
	case isNull(n):
		p.add(n, sp, "empty; name the object events, e.g. "+example)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		items = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		items = p.items(n, sp)
		if len(items) == 0 {
			p.add(n, sp, "no events; name at least one, e.g. "+example)
			return nil, false
		}
	default:
		p.add(n, sp, describe(n)+" where a list of object events belongs; e.g. "+example)
		return nil, false
	}
	var on []string
	ok := true
	seen := make(map[string]int)
	for i, item := range items {
		ip := sp
		if n.Kind == yaml.SequenceNode {
			ip = sp + "[" + strconv.Itoa(i) + "]"
		}
		v, vok := p.str(item, ip, example)
		if !vok {
			ok = false
			continue
		}
		kind, msg := bucketKind(v)
		if msg != "" {
			p.add(item, ip, msg)
			ok = false
			continue
		}
		if line, dup := seen[kind]; dup {
			what := kind
			if v != kind {
				what = fmt.Sprintf("%s (%s)", v, kind)
			}
			p.add(item, ip, fmt.Sprintf("%s is listed twice (first at line %d); remove one", what, line))
			continue
		}
		seen[kind] = item.Line
		on = append(on, kind)
	}
	if !ok || len(on) == 0 {
		return nil, false
	}
	return on, true
}

// bucketKind canonicalises an object event's name: created, removed, or
// S3's s3:ObjectCreated:* and s3:ObjectRemoved:* in their usual spellings.
// msg says what is wrong when the name is not one of them.
func bucketKind(v string) (kind, msg string) {
	switch v {
	case BucketCreated, BucketRemoved:
		return v, ""
	}
	aws := strings.TrimPrefix(strings.ToLower(v), "s3:")
	switch aws {
	case "objectcreated", "objectcreated:*":
		return BucketCreated, ""
	case "objectremoved", "objectremoved:*":
		return BucketRemoved, ""
	}
	if rest, ok := strings.CutPrefix(aws, "objectcreated:"); ok && rest != "" {
		return "", fmt.Sprintf("%q is one way of creating an object; gureum's created event covers them all (put, copy, multipart upload): write on: [created]", v)
	}
	if rest, ok := strings.CutPrefix(aws, "objectremoved:"); ok && rest != "" {
		return "", fmt.Sprintf("%q is one way of removing an object; gureum's removed event covers them all: write on: [removed]", v)
	}
	if s := suggest(v, bucketKinds); s != "" {
		return "", fmt.Sprintf("%q is not an object event; did you mean %s?", v, s)
	}
	return "", fmt.Sprintf("%q is not an object event; the events are created (an object was written) and removed (one was deleted), e.g. on: [created, removed]", v)
}

// keyFilter reads a prefix or suffix of object keys.
func (p *parser) keyFilter(n *yaml.Node, sp, example string) (string, bool) {
	v, ok := p.str(n, sp, example)
	if !ok {
		return "", false
	}
	switch {
	case len(v) > maxKeyFilter:
		p.add(n, sp, fmt.Sprintf("%d bytes is longer than an object key can be (%d); shorten it, e.g. %s", len(v), maxKeyFilter, example))
	case strings.ContainsFunc(v, isControlRune):
		p.add(n, sp, "the filter holds a control character, which no object key can hold; remove it")
	default:
		return v, true
	}
	return "", false
}

func isControlRune(r rune) bool {
	return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0
}

// checkBucketUses reports notifications of one bucket that overlap: the
// same object event, one prefix starting the other and one suffix ending
// the other. S3 refuses such configurations, because one event would go
// two ways.
func (p *parser) checkBucketUses() {
	kept := make(map[string][]bucketUse)
	for _, u := range p.bucketUses {
		prev := kept[u.bucket]
		if len(prev) >= maxBucketNotifications {
			p.add(u.node, u.path, fmt.Sprintf("bucket %s has more than %d notifications in this manifest; send its events to a topic and subscribe there instead", u.bucket, maxBucketNotifications))
			continue
		}
		overlap := false
		for _, o := range prev {
			kind, ok := sharedKind(u.on, o.on)
			if !ok || !nested(u.prefix, o.prefix, strings.HasPrefix) || !nested(u.suffix, o.suffix, strings.HasSuffix) {
				continue
			}
			p.add(u.node, u.path, fmt.Sprintf("bucket %s already sends %s events %s to %s (line %d), and the filters overlap (one prefix starts the other, one suffix ends the other), which S3 refuses: give them filters that do not overlap, e.g. prefix: images/ and prefix: docs/, or send the bucket's events to a topic that both subscribe to",
				u.bucket, kind, describeKeys(o.prefix, o.suffix), o.target, o.line))
			overlap = true
			break
		}
		if !overlap {
			kept[u.bucket] = append(prev, u)
		}
	}
}

// sharedKind returns an object event both lists hold.
func sharedKind(a, b []string) (string, bool) {
	for _, k := range a {
		for _, l := range b {
			if k == l {
				return k, true
			}
		}
	}
	return "", false
}

// nested reports whether a is within b or b within a, by has (a prefix or
// suffix test); "" is within everything.
func nested(a, b string, has func(s, sub string) bool) bool {
	return has(a, b) || has(b, a)
}

// describeKeys says which keys a filter takes, for messages.
func describeKeys(prefix, suffix string) string {
	switch {
	case prefix != "" && suffix != "":
		return fmt.Sprintf("of keys starting with %q and ending with %q", prefix, suffix)
	case prefix != "":
		return fmt.Sprintf("of keys starting with %q", prefix)
	case suffix != "":
		return fmt.Sprintf("of keys ending with %q", suffix)
	}
	return "of every key"
}

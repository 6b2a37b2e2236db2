package manifest

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits of HTTP grants, as in DNS.
const (
	maxHostName  = 253
	maxHostLabel = 63
)

// permissionKinds are the grants the design describes, for suggestions.
var permissionKinds = []string{PermissionPublish, PermissionSend, PermissionTables, PermissionKV, PermissionBuckets, PermissionHTTP, "env", "secrets"}

// permissions reads a function's grants. env and secrets are refused for
// now.
func (p *parser) permissions(key, n *yaml.Node, sp string) *Permissions {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, sp, describe(n)+" where a map of grants belongs; e.g. permissions: {publish: [order-events], tables: [orders:rw]}")
		return nil
	}
	perms := &Permissions{Line: key.Line}
	var tablesKey *entry
	for _, e := range p.entries(n, sp) {
		gp := sp + "." + e.name
		switch e.name {
		case PermissionPublish:
			perms.Publish = p.grants(e.val, gp, kindTopic, "publish: [order-events]")
		case PermissionSend:
			perms.Send = p.grants(e.val, gp, kindQueue, "send: [orders]")
		case PermissionTables, PermissionKV:
			if tablesKey != nil {
				p.add(e.key, gp, fmt.Sprintf("%s and %s are both set (the other at line %d); they are one grant, of tables: keep one, e.g. tables: [orders:rw]", tablesKey.name, e.name, tablesKey.key.Line))
				continue
			}
			tablesKey = &e
			perms.Tables = p.modeGrants(e.val, gp, kindTable, "orders")
		case PermissionBuckets:
			perms.Buckets = p.modeGrants(e.val, gp, kindBucket, "uploads")
		case PermissionHTTP:
			perms.HTTP = p.hostGrants(e.val, gp)
		case "env", "secrets":
			p.add(e.key, gp, e.name+" permissions are not supported by this version of gureum yet; remove them for now (publish, send, tables, buckets and http are)")
		default:
			p.unknown(e, sp, permissionKinds)
		}
	}
	if perms.Empty() {
		return nil
	}
	return perms
}

// grants reads a list of topic or queue names, or "*" for every one.
func (p *parser) grants(n *yaml.Node, sp, kind, example string) []Grant {
	items, ok := p.grantList(n, sp, kind+" names", kind, example)
	if !ok {
		return nil
	}
	var out []Grant
	seen := make(map[string]int)
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", sp, i)
		var name string
		if item.Kind == yaml.ScalarNode && item.Value == "*" {
			name = "*"
		} else {
			var ok bool
			if name, ok = p.refName(item, ip, kind, example); !ok {
				continue
			}
		}
		if line, dup := seen[name]; dup {
			p.add(item, ip, fmt.Sprintf("%s is listed twice (first at line %d); remove one", name, line))
			continue
		}
		seen[name] = item.Line
		out = append(out, Grant{Name: name, Line: item.Line})
	}
	return out
}

// grantList returns the items of a grant list. what names the items.
func (p *parser) grantList(n *yaml.Node, sp, what, kind, example string) ([]*yaml.Node, bool) {
	if isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, sp, fmt.Sprintf("%s where a list of %s belongs (\"*\" for every %s); e.g. %s", describe(n), what, kind, example))
		return nil, false
	}
	return p.items(n, sp), true
}

// modeGrants reads a list of table or bucket grants, NAME:MODE. The mode
// is required: a grant says whether it reads, writes or both.
func (p *parser) modeGrants(n *yaml.Node, sp, kind, sample string) []Grant {
	key := sp[strings.LastIndexByte(sp, '.')+1:]
	example := fmt.Sprintf("%s: [%s:rw]", key, sample)
	items, ok := p.grantList(n, sp, kind+" grants, NAME:MODE,", kind, example)
	if !ok {
		return nil
	}
	var out []Grant
	seen := make(map[string]int)
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", sp, i)
		v, ok := p.str(item, ip, example)
		if !ok {
			continue
		}
		name, mode, hasMode := strings.Cut(v, ":")
		if name != "*" && !validKindName(kind, name) {
			p.add(item, ip, fmt.Sprintf("%q is not a valid %s name; use %s, e.g. %s", name, kind, nameRule(kind), example))
			continue
		}
		if !hasMode {
			p.add(item, ip, fmt.Sprintf("%s has no mode; say what the function does with the %s: write %s:rw (read and write), %s:r or %s:w", name, kind, name, name, name))
			continue
		}
		if m, ok := p.mode(item, ip, name, mode); ok {
			mode = m
		} else {
			continue
		}
		if line, dup := seen[name]; dup {
			p.add(item, ip, fmt.Sprintf("%s is granted twice (first at line %d); keep one, e.g. %s:rw", name, line, name))
			continue
		}
		seen[name] = item.Line
		if name != "*" {
			p.refs = append(p.refs, ref{kind: kind, name: name, node: item, path: ip})
		}
		out = append(out, Grant{Name: name, Mode: mode, Line: item.Line})
	}
	return out
}

// mode checks the mode of a table or bucket grant.
func (p *parser) mode(n *yaml.Node, ip, name, mode string) (string, bool) {
	switch mode {
	case ModeRead, ModeWrite, ModeReadWrite:
		return mode, true
	}
	var meant string
	switch strings.ToLower(mode) {
	case "wr", "rw", "readwrite", "read-write", "read_write", "all":
		meant = ModeReadWrite
	case "r", "read", "ro", "readonly", "read-only":
		meant = ModeRead
	case "w", "write", "wo", "writeonly", "write-only":
		meant = ModeWrite
	}
	if meant != "" {
		p.add(n, ip, fmt.Sprintf("%q is not a mode; write %s:%s", mode, name, meant))
	} else {
		p.add(n, ip, fmt.Sprintf("%q is not a mode; the modes are r (read), w (write) and rw (both), e.g. %s:r", mode, name))
	}
	return "", false
}

// hostGrants reads the hosts a function may reach with outbound HTTP.
func (p *parser) hostGrants(n *yaml.Node, sp string) []Grant {
	const example = "http: [api.example.com]"
	items, ok := p.grantList(n, sp, "hosts", "host", example)
	if !ok {
		return nil
	}
	var out []Grant
	seen := make(map[string]int)
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", sp, i)
		v, ok := p.str(item, ip, example)
		if !ok {
			continue
		}
		host, err := ParseHostGrant(v)
		if err != nil {
			p.add(item, ip, err.Error())
			continue
		}
		if line, dup := seen[host]; dup {
			p.add(item, ip, fmt.Sprintf("%s is listed twice (first at line %d); remove one", host, line))
			continue
		}
		seen[host] = item.Line
		out = append(out, Grant{Name: host, Line: item.Line})
	}
	return out
}

// ParseHostGrant checks an HTTP grant and returns its canonical form: "*"
// (every host), or a host name or IP address, optionally led by "*." (every
// subdomain of the name), optionally followed by ":PORT" (1-65535; without
// one, any port). Names are lower-cased and lose a trailing dot; IPv6
// addresses are written in brackets. Errors say how to write the grant.
func ParseHostGrant(s string) (string, error) {
	const example = "e.g. http: [api.example.com], http: [\"api.example.com:8443\"] or http: [\"*.example.com\"]"
	if s == "*" {
		return s, nil
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		if host == "" {
			host = "api.example.com"
		}
		return "", fmt.Errorf("%q is a URL; a grant names the host alone, without %s://, e.g. http: [%s]", s, scheme, host)
	}
	if strings.ContainsAny(s, "/?#") {
		host, _, _ := strings.Cut(s, "/")
		return "", fmt.Errorf("%q has a path; a grant names a host and every path on it, e.g. http: [%s]", s, strings.ToLower(host))
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", fmt.Errorf("%q opens a bracket it does not close; write an IPv6 address as [2001:db8::1] or [2001:db8::1]:443", s)
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return "", fmt.Errorf("%q has text after its address; write [2001:db8::1] or [2001:db8::1]:443", s)
			}
			port = port[1:]
			if port == "" {
				return "", fmt.Errorf("%q ends with ':' but no port; add one or remove the ':', %s", s, example)
			}
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
			return "", fmt.Errorf("%q is not an IPv6 address in brackets; write e.g. [2001:db8::1]", s)
		}
		host = "[" + ip.String() + "]"
	} else {
		if strings.Count(s, ":") > 1 {
			return "", fmt.Errorf("%q has more than one ':'; an IPv6 address goes in brackets, e.g. \"[2001:db8::1]:443\"", s)
		}
		var hasPort bool
		host, port, hasPort = strings.Cut(s, ":")
		if hasPort && port == "" {
			return "", fmt.Errorf("%q ends with ':' but no port; add one or remove the ':', %s", s, example)
		}
		var err error
		if host, err = hostPattern(s, host); err != nil {
			return "", err
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || !isDigits(port) || port[0] == '+' || port[0] == '-' || n < 1 || n > 65535 || port[0] == '0' {
			return "", fmt.Errorf("%q has the port %q; a port is a number from 1 to 65535, e.g. \"api.example.com:8443\"", s, port)
		}
		return host + ":" + port, nil
	}
	return host, nil
}

// hostPattern checks a host name, optionally led by "*.", and returns it
// lower-cased without a trailing dot.
func hostPattern(s, host string) (string, error) {
	name, wild := strings.CutPrefix(host, "*.")
	if strings.Contains(name, "*") {
		return "", fmt.Errorf("%q has a '*' gureum cannot match; a wildcard is * (every host) or leads the name, \"*.example.com\" (every subdomain of example.com)", s)
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if !validHostName(name) {
		return "", fmt.Errorf("%q is not a host name; write a name of letters, digits, '-' and '.' (labels of at most 63, 253 in all) or an IP address, e.g. api.example.com", s)
	}
	if wild {
		return "*." + name, nil
	}
	return name, nil
}

// validHostName reports whether s is a DNS name (or an IPv4 address):
// labels of 1-63 lower-case letters, digits and '-', not starting or ending
// with '-'.
func validHostName(s string) bool {
	if s == "" || len(s) > maxHostName {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > maxHostLabel || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

package gateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gureum/gureum/internal/jsontext"
)

// timeLayout is requestContext.time's layout, as API Gateway writes it.
const timeLayout = "02/Jan/2006:15:04:05 -0700"

// eventInput is what the event needs besides the request itself.
type eventInput struct {
	match     *Match
	requestID string
	now       time.Time
	body      []byte
	accountID string
	apiID     string
}

// appendEvent appends the API Gateway HTTP API payload format 2.0 event for r
// to b: the JSON that events.APIGatewayV2HTTPRequest decodes. It is written
// directly rather than through encoding/json so that empty parts are left
// out the way API Gateway leaves them out (encoding/json cannot omit the
// empty requestContext.authentication struct) and so that the warm path
// builds no intermediate maps. Object keys are sorted, and the output is
// deterministic for a given request and input.
func appendEvent(b []byte, r *http.Request, in *eventInput) []byte {
	m := in.match
	host, port := splitHostPort(r.Host)
	sourceIP, _ := splitHostPort(r.RemoteAddr)

	b = append(b, `{"version":"2.0","routeKey":`...)
	b = jsontext.AppendString(b, m.RouteKey)
	b = append(b, `,"rawPath":`...)
	b = jsontext.AppendString(b, r.URL.EscapedPath())
	b = append(b, `,"rawQueryString":`...)
	b = jsontext.AppendString(b, r.URL.RawQuery)
	b = appendCookies(b, r.Header["Cookie"])
	b = appendHeaders(b, r, host, port, sourceIP)
	b = appendQuery(b, r.URL.RawQuery)

	b = append(b, `,"requestContext":{"accountId":`...)
	b = jsontext.AppendString(b, in.accountID)
	b = append(b, `,"apiId":`...)
	b = jsontext.AppendString(b, in.apiID)
	b = append(b, `,"domainName":`...)
	b = jsontext.AppendString(b, host)
	b = append(b, `,"domainPrefix":`...)
	b = jsontext.AppendString(b, domainPrefix(host))
	b = append(b, `,"http":{"method":`...)
	b = jsontext.AppendString(b, r.Method)
	b = append(b, `,"path":`...)
	b = jsontext.AppendString(b, r.URL.Path)
	b = append(b, `,"protocol":`...)
	b = jsontext.AppendString(b, r.Proto)
	b = append(b, `,"sourceIp":`...)
	b = jsontext.AppendString(b, sourceIP)
	b = append(b, `,"userAgent":`...)
	b = jsontext.AppendString(b, first(r.Header["User-Agent"]))
	b = append(b, `},"requestId":`...)
	b = jsontext.AppendString(b, in.requestID)
	b = append(b, `,"routeKey":`...)
	b = jsontext.AppendString(b, m.RouteKey)
	b = append(b, `,"stage":"$default","time":"`...)
	b = in.now.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","timeEpoch":`...)
	b = strconv.AppendInt(b, in.now.UnixMilli(), 10)
	b = append(b, '}')

	if len(m.PathParameters) > 0 {
		b = append(b, `,"pathParameters":`...)
		b = appendStringMap(b, m.PathParameters)
	}
	base64Body := false
	if len(in.body) > 0 {
		b = append(b, `,"body":`...)
		if isText(first(r.Header["Content-Type"]), in.body) {
			b = jsontext.AppendString(b, in.body)
		} else {
			base64Body = true
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, in.body)
			b = append(b, '"')
		}
	}
	b = append(b, `,"isBase64Encoded":`...)
	b = strconv.AppendBool(b, base64Body)
	return append(b, '}')
}

// eventSizeHint estimates the size of r's event, so that its buffer is
// allocated once.
func eventSizeHint(r *http.Request, body []byte) int {
	n := 768 + 3*len(r.URL.Path) + 3*len(r.URL.RawQuery) + 2*len(r.Host) + len(r.RemoteAddr)
	for k, vs := range r.Header {
		n += len(k) + 6
		for _, v := range vs {
			n += len(v) + 1
		}
	}
	return n + base64.StdEncoding.EncodedLen(len(body))
}

// isText reports whether a request body goes into the event as text rather
// than base64: it must be valid UTF-8, and its content type textual
// (text/*, or naming json, xml, javascript or x-www-form-urlencoded) or
// absent.
func isText(contentType string, body []byte) bool {
	if contentType != "" {
		mt, _, _ := strings.Cut(contentType, ";")
		if !hasPrefixFold(mt, "text/") && !containsFold(mt, "json") && !containsFold(mt, "xml") &&
			!containsFold(mt, "javascript") && !containsFold(mt, "x-www-form-urlencoded") {
			return false
		}
	}
	return utf8.Valid(body)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// splitHostPort splits "host:port", "[v6]:port" or a bare host or IPv6
// address, without allocating.
func splitHostPort(hp string) (host, port string) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return hp, ""
		}
		host, rest := hp[1:end], hp[end+1:]
		if strings.HasPrefix(rest, ":") {
			return host, rest[1:]
		}
		return host, ""
	}
	if i := strings.LastIndexByte(hp, ':'); i >= 0 && strings.IndexByte(hp[:i], ':') < 0 {
		return hp[:i], hp[i+1:]
	}
	return hp, ""
}

// domainPrefix is the first label of a domain name, or an IP address whole.
func domainPrefix(host string) string {
	if strings.IndexByte(host, ':') >= 0 || strings.Trim(host, "0123456789.") == "" {
		return host
	}
	p, _, _ := strings.Cut(host, ".")
	return p
}

// appendCookies appends the "cookies" member: every cookie of every Cookie
// header, separately, in order. Nothing when there are none.
func appendCookies(b []byte, headers []string) []byte {
	n := 0
	for _, h := range headers {
		for c := range strings.SplitSeq(h, ";") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			if n == 0 {
				b = append(b, `,"cookies":[`...)
			} else {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, c)
			n++
		}
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b
}

type headerField struct {
	name     string   // any case
	values   []string // joined with ","
	extra    string   // one more value, when not ""
	extraSep string   // what separates extra from values
}

// appendHeaders appends the "headers" member: every header but Cookie (the
// cookies have their own member), names in lower case, repeated headers
// joined with ",", plus host and, as API Gateway adds them,
// x-forwarded-for (the client's address appended), x-forwarded-proto and
// x-forwarded-port (kept when a proxy in front already set them).
func appendHeaders(b []byte, r *http.Request, host, port, sourceIP string) []byte {
	var arr [32]headerField
	fs := arr[:0]
	var haveProto, havePort, haveFor bool
	for k, vs := range r.Header {
		switch {
		case strings.EqualFold(k, "Cookie"), strings.EqualFold(k, "Host"):
			continue
		case strings.EqualFold(k, "X-Forwarded-For"):
			haveFor = true
			fs = append(fs, headerField{name: k, values: vs, extra: sourceIP, extraSep: ", "})
			continue
		case strings.EqualFold(k, "X-Forwarded-Proto"):
			haveProto = true
		case strings.EqualFold(k, "X-Forwarded-Port"):
			havePort = true
		}
		fs = append(fs, headerField{name: k, values: vs})
	}
	if r.Host != "" {
		fs = append(fs, headerField{name: "host", extra: r.Host})
	}
	if !haveFor && sourceIP != "" {
		fs = append(fs, headerField{name: "x-forwarded-for", extra: sourceIP})
	}
	scheme, defPort := "http", "80"
	if r.TLS != nil {
		scheme, defPort = "https", "443"
	}
	if !haveProto {
		fs = append(fs, headerField{name: "x-forwarded-proto", extra: scheme})
	}
	if !havePort {
		if port == "" {
			port = defPort
		}
		fs = append(fs, headerField{name: "x-forwarded-port", extra: port})
	}
	slices.SortFunc(fs, func(a, b headerField) int { return compareFold(a.name, b.name) })

	b = append(b, `,"headers":{`...)
	for i := 0; i < len(fs); {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLowerString(b, fs[i].name)
		b = append(b, `:"`...)
		// Header names that differ only in case (possible when a header
		// map was built by hand) are one header here.
		j, sep := i, false
		for ; j < len(fs) && compareFold(fs[j].name, fs[i].name) == 0; j++ {
			for _, v := range fs[j].values {
				if sep {
					b = append(b, ',')
				}
				b = jsontext.AppendEscaped(b, v)
				sep = true
			}
			if fs[j].extra != "" {
				if sep {
					if fs[j].extraSep == "" {
						b = append(b, ',')
					}
					b = append(b, fs[j].extraSep...)
				}
				b = jsontext.AppendEscaped(b, fs[j].extra)
				sep = true
			}
		}
		b = append(b, '"')
		i = j
	}
	return append(b, '}')
}

// compareFold compares ASCII strings ignoring case.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

type queryField struct{ key, value string }

// appendQuery appends the "queryStringParameters" member: decoded keys and
// values, repeated keys' values joined with "," in order. Nothing when the
// query is empty.
func appendQuery(b []byte, raw string) []byte {
	if raw == "" {
		return b
	}
	var arr [16]queryField
	qs := arr[:0]
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		qs = append(qs, queryField{queryUnescape(k), queryUnescape(v)})
	}
	if len(qs) == 0 {
		return b
	}
	slices.SortStableFunc(qs, func(a, b queryField) int { return strings.Compare(a.key, b.key) })
	b = append(b, `,"queryStringParameters":{`...)
	for i := 0; i < len(qs); {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, qs[i].key)
		b = append(b, `:"`...)
		j := i
		for ; j < len(qs) && qs[j].key == qs[i].key; j++ {
			if j > i {
				b = append(b, ',')
			}
			b = jsontext.AppendEscaped(b, qs[j].value)
		}
		b = append(b, '"')
		i = j
	}
	return append(b, '}')
}

// queryUnescape decodes a query component; one that is not validly escaped
// stays as it is.
func queryUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// appendStringMap appends a map of strings as a JSON object, keys sorted.
func appendStringMap(b []byte, m map[string]string) []byte {
	var arr [8]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		b = jsontext.AppendString(b, m[k])
	}
	return append(b, '}')
}

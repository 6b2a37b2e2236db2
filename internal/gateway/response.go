package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// errInvalidResponse reports a function result the gateway cannot turn into
// an HTTP response.
var errInvalidResponse = errors.New("invalid function response")

// response is a function result mapped to HTTP, validated and ready to write.
type response struct {
	status int
	// passthrough: the payload itself is the body, as application/json.
	passthrough bool
	headers     []headerValue // "headers", in order
	multi       []headerValue // "multiValueHeaders", in order
	cookies     []string
	body        []byte // decoded; may alias the payload
}

type headerValue struct {
	name, value string
	first       bool // the first value of its name in multiValueHeaders
}

// parseResponse maps a function's result the way API Gateway HTTP APIs map
// payload format 2.0 results: a JSON object with a statusCode member
// describes the response (the members of events.APIGatewayV2HTTPResponse:
// statusCode, headers, multiValueHeaders, cookies, body, isBase64Encoded;
// names match exactly, others are ignored); any other valid JSON is the
// body of a 200 application/json response, unchanged. Anything else is
// errInvalidResponse.
//
// The payload is validated once with json.Valid, then read in one pass that
// decodes only those members; a text body without escapes is not copied.
func parseResponse(payload []byte) (*response, error) {
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%w: not JSON", errInvalidResponse)
	}
	if !isJSONObject(payload) {
		return &response{status: http.StatusOK, passthrough: true}, nil
	}
	d := respDecoder{b: payload}
	d.ws()
	d.i++ // '{'
	resp := &response{}
	var (
		status               []byte
		hasStatus, isBase64  bool
		body                 []byte
		bodyEscaped, badType bool
		typeErr              string
	)
	typeError := func(member string) {
		if !badType {
			badType, typeErr = true, member
		}
	}
	for {
		d.ws()
		if d.b[d.i] == '}' {
			break
		}
		if d.b[d.i] == ',' {
			d.i++
			d.ws()
		}
		key, esc := d.str()
		if esc {
			key = unescapeJSON(nil, key)
		}
		d.ws()
		d.i++ // ':'
		d.ws()
		switch string(key) {
		case "statusCode":
			hasStatus = true
			status = d.token()
		case "headers":
			resp.headers = resp.headers[:0]
			if !d.object(func(name []byte) bool {
				v, ok := d.stringValue()
				if ok {
					resp.headers = append(resp.headers, headerValue{name: string(name), value: string(v)})
				}
				return ok
			}) {
				typeError("headers")
			}
		case "multiValueHeaders":
			resp.multi = resp.multi[:0]
			if !d.object(func(name []byte) bool {
				first := true
				n := string(name)
				return d.array(func() bool {
					v, ok := d.stringValue()
					if ok {
						resp.multi = append(resp.multi, headerValue{name: n, value: string(v), first: first})
						first = false
					}
					return ok
				})
			}) {
				typeError("multiValueHeaders")
			}
		case "cookies":
			resp.cookies = resp.cookies[:0]
			if !d.array(func() bool {
				v, ok := d.stringValue()
				if ok {
					resp.cookies = append(resp.cookies, string(v))
				}
				return ok
			}) {
				typeError("cookies")
			}
		case "body":
			switch d.b[d.i] {
			case '"':
				body, bodyEscaped = d.str()
			case 'n':
				body, bodyEscaped = nil, false
				d.token()
			default:
				d.skip()
				typeError("body")
			}
		case "isBase64Encoded":
			switch t := d.token(); string(t) {
			case "true":
				isBase64 = true
			case "false", "null":
				isBase64 = false
			default:
				typeError("isBase64Encoded")
			}
		default:
			d.skip()
		}
	}
	if !hasStatus {
		return &response{status: http.StatusOK, passthrough: true}, nil
	}
	if badType {
		return nil, fmt.Errorf("%w: %s has the wrong type", errInvalidResponse, typeErr)
	}
	code, ok := parseStatus(status)
	if !ok {
		return nil, fmt.Errorf("%w: statusCode %s is not an HTTP status", errInvalidResponse, status)
	}
	resp.status = code
	for _, h := range resp.headers {
		if err := checkHeader(h.name, h.value); err != nil {
			return nil, err
		}
	}
	for _, h := range resp.multi {
		if err := checkHeader(h.name, h.value); err != nil {
			return nil, err
		}
	}
	for _, c := range resp.cookies {
		if err := checkHeader("Set-Cookie", c); err != nil {
			return nil, err
		}
	}
	if bodyEscaped {
		body = unescapeJSON(make([]byte, 0, len(body)), body)
	}
	if isBase64 && len(body) > 0 {
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
		n, err := base64.StdEncoding.Decode(dec, body)
		if err != nil {
			return nil, fmt.Errorf("%w: body: %w", errInvalidResponse, err)
		}
		body = dec[:n]
	}
	resp.body = body
	return resp, nil
}

// parseStatus parses a status code of 200 to 599 written as a plain
// integer.
func parseStatus(t []byte) (int, bool) {
	if len(t) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 200 && n <= 599
}

// isJSONObject reports whether b, after leading white space, starts an
// object.
func isJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

func checkHeader(name, value string) error {
	if !validHeaderName(name) {
		return fmt.Errorf("%w: header name %q", errInvalidResponse, name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("%w: header %s: value has a control character", errInvalidResponse, name)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x7f && c > ' ' && !isSeparator(c):
		default:
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return true
	}
	return false
}

// write sends the response. payload is the function's result, the body when
// the response passes it through; requestID goes in X-Request-Id, whatever
// the function set. The gateway owns the framing headers: Content-Length is
// computed, and Content-Length, Transfer-Encoding and Connection from the
// function are ignored. A response without a Content-Type gets none (no
// sniffing).
func (resp *response) write(w http.ResponseWriter, payload []byte, requestID string) {
	h := w.Header()
	if resp.passthrough {
		vals := [...]string{requestID, "application/json", strconv.Itoa(len(payload))}
		h[headerRequestID] = vals[0:1:1]
		h["Content-Type"] = vals[1:2:2]
		h["Content-Length"] = vals[2:3:3]
		w.WriteHeader(http.StatusOK)
		w.Write(payload) //nolint:errcheck // the client went away; nothing to do
		return
	}
	for _, f := range resp.headers {
		if !framingHeader(f.name) {
			h.Set(f.name, f.value)
		}
	}
	// As API Gateway merges headers and multiValueHeaders: for a name in
	// both, the multiValueHeaders values win.
	for _, f := range resp.multi {
		if framingHeader(f.name) {
			continue
		}
		if f.first {
			h.Del(f.name)
		}
		h.Add(f.name, f.value)
	}
	for _, c := range resp.cookies {
		h.Add("Set-Cookie", c)
	}
	h[headerRequestID] = []string{requestID}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	allowed := bodyAllowed(resp.status)
	if allowed {
		h["Content-Length"] = []string{strconv.Itoa(len(resp.body))}
	}
	w.WriteHeader(resp.status)
	if allowed && len(resp.body) > 0 {
		w.Write(resp.body) //nolint:errcheck // the client went away; nothing to do
	}
}

func framingHeader(k string) bool {
	return equalFold(k, "Content-Length") || equalFold(k, "Transfer-Encoding") || equalFold(k, "Connection")
}

func equalFold(a, b string) bool { return len(a) == len(b) && compareFold(a, b) == 0 }

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

package gureum

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/handlertrace"
	"github.com/gureum/gureum/internal/jsontext"
)

// This file decodes events.APIGatewayV2HTTPRequest and encodes
// events.APIGatewayV2HTTPResponse without reflection. In a WebAssembly guest
// stopped by context (see ABI.md, "Cost of stopping guests") every function
// call costs a check, and encoding/json's reflection makes many calls: it
// decodes an API Gateway event in about eight times the cost of a call that
// does nothing else. The decoder takes only input it can decode exactly as
// encoding/json.Unmarshal does (fresh value, no duplicate keys, no keys that
// match a field only without regard to case, every value of its field's
// type, well-formed JSON); on anything else it reports false and the caller
// decodes with encoding/json. FuzzAPIGatewayV2Decode holds the two to the
// same result; the encoder writes the bytes encoding/json writes with HTML
// escaping off.

// maxSkipDepth bounds the nesting of skipped values; deeper input goes to
// encoding/json, which has its own limit.
const maxSkipDepth = 1000

type jsonReader struct {
	data []byte
	// text is data as one string: the decoded strings without escapes are
	// substrings of it, so that the whole event costs one allocation for
	// its strings rather than one per string, which matters in a guest
	// where every allocation is many checked calls.
	text string
	pos  int
}

func (r *jsonReader) ws() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

// consume skips white space and the byte c, reporting whether it was there.
func (r *jsonReader) consume(c byte) bool {
	if r.peek() == c {
		r.pos++
		return true
	}
	return false
}

// literal consumes lit (true, false or null).
func (r *jsonReader) literal(lit string) bool {
	if len(r.data)-r.pos >= len(lit) && string(r.data[r.pos:r.pos+len(lit)]) == lit {
		r.pos += len(lit)
		return true
	}
	return false
}

// str reads a string at the current position (white space skipped).
func (r *jsonReader) str() (string, bool) {
	if r.peek() != '"' {
		return "", false
	}
	start := r.pos + 1
	ascii := true
	for i := start; i < len(r.data); i++ {
		c := r.data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			if !ascii && !utf8.Valid(r.data[start:i]) {
				return unquote(r.data[start-1 : i+1])
			}
			return r.text[start:i], true
		case c == '\\':
			return r.escapedStr(start - 1)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// escapedStr reads the string starting at the quote at start, which holds
// escapes, with encoding/json's rules for them.
func (r *jsonReader) escapedStr(start int) (string, bool) {
	if !r.skipStr(start) {
		return "", false
	}
	return unquote(r.data[start:r.pos])
}

func unquote(tok []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}

// skipStr checks the string starting at the quote at start and moves past it.
func (r *jsonReader) skipStr(start int) bool {
	for i := start + 1; i < len(r.data); i++ {
		switch c := r.data[i]; {
		case c == '"':
			r.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(r.data) {
				return false
			}
			switch r.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(r.data) {
					return false
				}
				for _, h := range r.data[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number checks a JSON number at the current position, moves past it and
// reports whether it is an integer (no fraction or exponent).
func (r *jsonReader) number() (integer, ok bool) {
	d, i := r.data, r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	integer = true
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false, false
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false, false
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	r.pos = i
	return integer, true
}

// skip checks any JSON value and moves past it.
func (r *jsonReader) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch r.peek() {
	case '"':
		return r.skipStr(r.pos)
	case '{':
		r.pos++
		if r.consume('}') {
			return true
		}
		for {
			if r.peek() != '"' || !r.skipStr(r.pos) || !r.consume(':') || !r.skip(depth+1) {
				return false
			}
			if r.consume('}') {
				return true
			}
			if !r.consume(',') {
				return false
			}
		}
	case '[':
		r.pos++
		if r.consume(']') {
			return true
		}
		for {
			if !r.skip(depth + 1) {
				return false
			}
			if r.consume(']') {
				return true
			}
			if !r.consume(',') {
				return false
			}
		}
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, ok := r.number()
		return ok
	}
	return false
}

// null consumes a null if one is next.
func (r *jsonReader) null() bool {
	return r.peek() == 'n' && r.literal("null")
}

// object reads an object into fields, which handles each key (returning
// false to give up), or a null, which leaves the value as it is. seen
// tracks the fields already set, to give up on a duplicate.
func (r *jsonReader) object(field func(key string) bool) bool {
	if r.null() {
		return true
	}
	if !r.consume('{') {
		return false
	}
	if r.consume('}') {
		return true
	}
	for {
		key, ok := r.str()
		if !ok || !r.consume(':') || !field(key) {
			return false
		}
		if r.consume('}') {
			return true
		}
		if !r.consume(',') {
			return false
		}
	}
}

// unknown skips the value of key, which names no field, unless key names
// one without regard to case, as encoding/json matches keys.
func (r *jsonReader) unknown(key string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return false
		}
	}
	return r.skip(0)
}

// once marks bit in seen and reports whether it was clear.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (r *jsonReader) stringValue(dst *string) bool {
	if r.null() {
		return true
	}
	s, ok := r.str()
	*dst = s
	return ok
}

func (r *jsonReader) boolValue(dst *bool) bool {
	switch r.peek() {
	case 't':
		*dst = true
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	return false
}

func (r *jsonReader) int64Value(dst *int64) bool {
	if r.null() {
		return true
	}
	start := r.pos
	integer, ok := r.number()
	if !ok || !integer {
		return false
	}
	n, err := strconv.ParseInt(string(r.data[start:r.pos]), 10, 64)
	*dst = n
	return err == nil
}

func (r *jsonReader) stringMap(dst *map[string]string) bool {
	if r.null() {
		return true
	}
	if r.peek() != '{' {
		return false
	}
	m := make(map[string]string)
	*dst = m
	return r.object(func(key string) bool {
		var v string
		if !r.stringValue(&v) {
			return false
		}
		m[key] = v
		return true
	})
}

func (r *jsonReader) stringSlice(dst *[]string) bool {
	if r.null() {
		return true
	}
	if !r.consume('[') {
		return false
	}
	s := []string{}
	for !r.consume(']') {
		if len(s) > 0 && !r.consume(',') {
			return false
		}
		var v string
		if !r.stringValue(&v) {
			return false
		}
		s = append(s, v)
	}
	*dst = s
	return true
}

var (
	requestFields = []string{"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
		"queryStringParameters", "pathParameters", "requestContext", "stageVariables", "body", "isBase64Encoded"}
	requestContextFields = []string{"routeKey", "accountId", "stage", "requestId", "authorizer", "apiId",
		"domainName", "domainPrefix", "time", "timeEpoch", "http", "authentication"}
	httpFields       = []string{"method", "path", "protocol", "sourceIp", "userAgent"}
	authorizerFields = []string{"jwt", "lambda", "iam"}
	jwtFields        = []string{"claims", "scopes"}
	iamFields        = []string{"accessKey", "accountId", "callerId", "cognitoIdentity", "principalOrgId", "userArn", "userId"}
	cognitoFields    = []string{"amr", "identityId", "identityPoolId"}
	clientCertFields = []string{"clientCertPem", "issuerDN", "serialNumber", "subjectDN", "validity"}
	validityFields   = []string{"notAfter", "notBefore"}
)

// decodeAPIGatewayV2HTTPRequest decodes data into req, which must be the
// zero value, exactly as json.Unmarshal would. It reports false, leaving req
// in any state, for input it leaves to encoding/json.
func decodeAPIGatewayV2HTTPRequest(data []byte, req *events.APIGatewayV2HTTPRequest) bool {
	r := &jsonReader{data: data, text: string(data)}
	if r.peek() != '{' || !r.requestFields(req) {
		return false
	}
	r.ws()
	return r.pos == len(r.data)
}

func (r *jsonReader) requestFields(req *events.APIGatewayV2HTTPRequest) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "version":
			return once(&seen, 1<<0) && r.stringValue(&req.Version)
		case "routeKey":
			return once(&seen, 1<<1) && r.stringValue(&req.RouteKey)
		case "rawPath":
			return once(&seen, 1<<2) && r.stringValue(&req.RawPath)
		case "rawQueryString":
			return once(&seen, 1<<3) && r.stringValue(&req.RawQueryString)
		case "cookies":
			return once(&seen, 1<<4) && r.stringSlice(&req.Cookies)
		case "headers":
			return once(&seen, 1<<5) && r.stringMap(&req.Headers)
		case "queryStringParameters":
			return once(&seen, 1<<6) && r.stringMap(&req.QueryStringParameters)
		case "pathParameters":
			return once(&seen, 1<<7) && r.stringMap(&req.PathParameters)
		case "requestContext":
			return once(&seen, 1<<8) && r.requestContext(&req.RequestContext)
		case "stageVariables":
			return once(&seen, 1<<9) && r.stringMap(&req.StageVariables)
		case "body":
			return once(&seen, 1<<10) && r.stringValue(&req.Body)
		case "isBase64Encoded":
			return once(&seen, 1<<11) && r.boolValue(&req.IsBase64Encoded)
		}
		return r.unknown(key, requestFields)
	})
}

func (r *jsonReader) requestContext(rc *events.APIGatewayV2HTTPRequestContext) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "routeKey":
			return once(&seen, 1<<0) && r.stringValue(&rc.RouteKey)
		case "accountId":
			return once(&seen, 1<<1) && r.stringValue(&rc.AccountID)
		case "stage":
			return once(&seen, 1<<2) && r.stringValue(&rc.Stage)
		case "requestId":
			return once(&seen, 1<<3) && r.stringValue(&rc.RequestID)
		case "authorizer":
			return once(&seen, 1<<10) && r.authorizer(&rc.Authorizer)
		case "authentication":
			return once(&seen, 1<<11) && r.authentication(&rc.Authentication)
		case "apiId":
			return once(&seen, 1<<4) && r.stringValue(&rc.APIID)
		case "domainName":
			return once(&seen, 1<<5) && r.stringValue(&rc.DomainName)
		case "domainPrefix":
			return once(&seen, 1<<6) && r.stringValue(&rc.DomainPrefix)
		case "time":
			return once(&seen, 1<<7) && r.stringValue(&rc.Time)
		case "timeEpoch":
			return once(&seen, 1<<8) && r.int64Value(&rc.TimeEpoch)
		case "http":
			return once(&seen, 1<<9) && r.httpDescription(&rc.HTTP)
		}
		return r.unknown(key, requestContextFields)
	})
}

func (r *jsonReader) httpDescription(h *events.APIGatewayV2HTTPRequestContextHTTPDescription) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "method":
			return once(&seen, 1<<0) && r.stringValue(&h.Method)
		case "path":
			return once(&seen, 1<<1) && r.stringValue(&h.Path)
		case "protocol":
			return once(&seen, 1<<2) && r.stringValue(&h.Protocol)
		case "sourceIp":
			return once(&seen, 1<<3) && r.stringValue(&h.SourceIP)
		case "userAgent":
			return once(&seen, 1<<4) && r.stringValue(&h.UserAgent)
		}
		return r.unknown(key, httpFields)
	})
}

// authorizer decodes requestContext.authorizer. A lambda authorizer's
// context (arbitrary JSON) is left to encoding/json.
func (r *jsonReader) authorizer(dst **events.APIGatewayV2HTTPRequestContextAuthorizerDescription) bool {
	if r.null() {
		return true
	}
	a := new(events.APIGatewayV2HTTPRequestContextAuthorizerDescription)
	*dst = a
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "jwt":
			if !once(&seen, 1<<0) {
				return false
			}
			if r.null() {
				return true
			}
			a.JWT = new(events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription)
			return r.jwt(a.JWT)
		case "lambda":
			return once(&seen, 1<<1) && r.null()
		case "iam":
			if !once(&seen, 1<<2) {
				return false
			}
			if r.null() {
				return true
			}
			a.IAM = new(events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription)
			return r.iam(a.IAM)
		}
		return r.unknown(key, authorizerFields)
	})
}

func (r *jsonReader) jwt(j *events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "claims":
			return once(&seen, 1<<0) && r.stringMap(&j.Claims)
		case "scopes":
			return once(&seen, 1<<1) && r.stringSlice(&j.Scopes)
		}
		return r.unknown(key, jwtFields)
	})
}

func (r *jsonReader) iam(a *events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "accessKey":
			return once(&seen, 1<<0) && r.stringValue(&a.AccessKey)
		case "accountId":
			return once(&seen, 1<<1) && r.stringValue(&a.AccountID)
		case "callerId":
			return once(&seen, 1<<2) && r.stringValue(&a.CallerID)
		case "cognitoIdentity":
			return once(&seen, 1<<3) && r.cognitoIdentity(&a.CognitoIdentity)
		case "principalOrgId":
			return once(&seen, 1<<4) && r.stringValue(&a.PrincipalOrgID)
		case "userArn":
			return once(&seen, 1<<5) && r.stringValue(&a.UserARN)
		case "userId":
			return once(&seen, 1<<6) && r.stringValue(&a.UserID)
		}
		return r.unknown(key, iamFields)
	})
}

func (r *jsonReader) cognitoIdentity(c *events.APIGatewayV2HTTPRequestContextAuthorizerCognitoIdentity) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "amr":
			return once(&seen, 1<<0) && r.stringSlice(&c.AMR)
		case "identityId":
			return once(&seen, 1<<1) && r.stringValue(&c.IdentityID)
		case "identityPoolId":
			return once(&seen, 1<<2) && r.stringValue(&c.IdentityPoolID)
		}
		return r.unknown(key, cognitoFields)
	})
}

func (r *jsonReader) authentication(a *events.APIGatewayV2HTTPRequestContextAuthentication) bool {
	var seen uint32
	return r.object(func(key string) bool {
		if key == "clientCert" {
			return once(&seen, 1) && r.clientCert(&a.ClientCert)
		}
		return r.unknown(key, []string{"clientCert"})
	})
}

func (r *jsonReader) clientCert(c *events.APIGatewayV2HTTPRequestContextAuthenticationClientCert) bool {
	var seen uint32
	return r.object(func(key string) bool {
		switch key {
		case "clientCertPem":
			return once(&seen, 1<<0) && r.stringValue(&c.ClientCertPem)
		case "issuerDN":
			return once(&seen, 1<<1) && r.stringValue(&c.IssuerDN)
		case "serialNumber":
			return once(&seen, 1<<2) && r.stringValue(&c.SerialNumber)
		case "subjectDN":
			return once(&seen, 1<<3) && r.stringValue(&c.SubjectDN)
		case "validity":
			var vseen uint32
			v := &c.Validity
			return once(&seen, 1<<4) && r.object(func(key string) bool {
				switch key {
				case "notAfter":
					return once(&vseen, 1<<0) && r.stringValue(&v.NotAfter)
				case "notBefore":
					return once(&vseen, 1<<1) && r.stringValue(&v.NotBefore)
				}
				return r.unknown(key, validityFields)
			})
		}
		return r.unknown(key, clientCertFields)
	})
}

// appendAPIGatewayV2HTTPResponse appends the JSON encoding/json writes for
// resp, with HTML escaping off.
func appendAPIGatewayV2HTTPResponse(b []byte, resp *events.APIGatewayV2HTTPResponse) []byte {
	b = append(b, `{"statusCode":`...)
	b = strconv.AppendInt(b, int64(resp.StatusCode), 10)
	b = append(b, `,"headers":`...)
	b = appendStringMap(b, resp.Headers)
	b = append(b, `,"multiValueHeaders":`...)
	if resp.MultiValueHeaders == nil {
		b = append(b, "null"...)
	} else {
		keys := sortedKeys(resp.MultiValueHeaders)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, k)
			b = append(b, ':')
			b = appendStringSlice(b, resp.MultiValueHeaders[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"body":`...)
	b = jsontext.AppendString(b, resp.Body)
	if resp.IsBase64Encoded {
		b = append(b, `,"isBase64Encoded":true`...)
	}
	b = append(b, `,"cookies":`...)
	b = appendStringSlice(b, resp.Cookies)
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	if len(m) == 1 {
		for k, v := range m {
			b = jsontext.AppendString(b, k)
			b = append(b, ':')
			b = jsontext.AppendString(b, v)
		}
		return append(b, '}')
	}
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		b = jsontext.AppendString(b, m[k])
	}
	return append(b, '}')
}

func appendStringSlice(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, v)
	}
	return append(b, ']')
}

type (
	apiRequest  = events.APIGatewayV2HTTPRequest
	apiResponse = events.APIGatewayV2HTTPResponse
)

var (
	apiRequestType = reflect.TypeFor[apiRequest]()
	apiRequestPtr  = reflect.TypeFor[*apiRequest]()
)

// apiGatewayCall calls a handler of one of the common API Gateway forms
// without reflection.
type apiGatewayCall struct {
	pointerEvent  bool // the handler takes *events.APIGatewayV2HTTPRequest
	pointerResult bool // the handler returns *events.APIGatewayV2HTTPResponse
	fn            func(context.Context, *apiRequest) (*apiResponse, error)
}

// apiGatewayCallOf returns the call for handler, or a call with a nil fn
// when handler has another form.
func apiGatewayCallOf(handler any) apiGatewayCall {
	switch f := handler.(type) {
	case func(context.Context, apiRequest) (apiResponse, error):
		return apiGatewayCall{fn: func(ctx context.Context, req *apiRequest) (*apiResponse, error) {
			resp, err := f(ctx, *req)
			return &resp, err
		}}
	case func(context.Context, *apiRequest) (apiResponse, error):
		return apiGatewayCall{pointerEvent: true, fn: func(ctx context.Context, req *apiRequest) (*apiResponse, error) {
			resp, err := f(ctx, req)
			return &resp, err
		}}
	case func(context.Context, apiRequest) (*apiResponse, error):
		return apiGatewayCall{pointerResult: true, fn: func(ctx context.Context, req *apiRequest) (*apiResponse, error) {
			return f(ctx, *req)
		}}
	case func(context.Context, *apiRequest) (*apiResponse, error):
		return apiGatewayCall{pointerEvent: true, pointerResult: true, fn: f}
	case func(apiRequest) (apiResponse, error):
		return apiGatewayCall{fn: func(_ context.Context, req *apiRequest) (*apiResponse, error) {
			resp, err := f(*req)
			return &resp, err
		}}
	case func(*apiRequest) (apiResponse, error):
		return apiGatewayCall{pointerEvent: true, fn: func(_ context.Context, req *apiRequest) (*apiResponse, error) {
			resp, err := f(req)
			return &resp, err
		}}
	case func(apiRequest) (*apiResponse, error):
		return apiGatewayCall{pointerResult: true, fn: func(_ context.Context, req *apiRequest) (*apiResponse, error) {
			return f(*req)
		}}
	case func(*apiRequest) (*apiResponse, error):
		return apiGatewayCall{pointerEvent: true, pointerResult: true, fn: func(_ context.Context, req *apiRequest) (*apiResponse, error) {
			return f(req)
		}}
	}
	return apiGatewayCall{}
}

// invokeAPIGateway serves an invocation through h.apiGateway. It reports
// false, having called nothing, when the event is left to encoding/json.
func (h *reflectHandler) invokeAPIGateway(ctx context.Context, payload []byte) ([]byte, bool, error) {
	req := new(apiRequest)
	if !decodeAPIGatewayV2HTTPRequest(payload, req) {
		return nil, false, nil
	}
	c := &h.apiGateway
	trace := handlertrace.FromContext(ctx)
	if trace.RequestEvent != nil {
		if c.pointerEvent {
			trace.RequestEvent(ctx, req)
		} else {
			trace.RequestEvent(ctx, *req)
		}
	}
	resp, err := c.fn(ctx, req)
	if err != nil {
		return nil, true, err
	}
	if trace.ResponseEvent != nil {
		if c.pointerResult {
			trace.ResponseEvent(ctx, resp)
		} else {
			trace.ResponseEvent(ctx, *resp)
		}
	}
	if resp == nil {
		h.buf = append(h.buf[:0], "null"...)
	} else {
		h.buf = appendAPIGatewayV2HTTPResponse(h.buf[:0], resp)
	}
	return h.buf, true, nil
}

// decodeEvent decodes payload into event (a new value of h.eventType)
// without reflection when it is an API Gateway request the fast decoder
// takes, reporting whether it did.
func decodeEvent(payload []byte, event reflect.Value) bool {
	switch p := event.Interface().(type) {
	case *apiRequest:
		return decodeAPIGatewayV2HTTPRequest(payload, p)
	case **apiRequest:
		req := new(apiRequest)
		if !decodeAPIGatewayV2HTTPRequest(payload, req) {
			return false
		}
		*p = req
		return true
	}
	return false
}

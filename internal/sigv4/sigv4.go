// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// signed in the Authorization header or presigned in the query string. It
// knows no service: the Lambda Invoke API and the S3-compatible API each
// configure a Verifier with their service name and map its errors to their
// own error codes.
//
// The canonical request is rebuilt from what arrived on the wire, the way
// the AWS SDKs build it before sending: the path exactly as sent (escaped
// once more except for S3), the query parameters decoded, re-encoded and
// sorted, the signed headers with their values trimmed and inner spaces
// collapsed, and the payload hash from X-Amz-Content-Sha256 or, when that
// header is absent, the SHA-256 of the body the caller read.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Payload hashes with a special meaning.
const (
	// UnsignedPayload in X-Amz-Content-Sha256 leaves the body out of the
	// signature (S3, and every presigned URL without that header).
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// MaxSkew is how far a request's signing time may be from the verifier's
// clock, either way.
const MaxSkew = 15 * time.Minute

// maxPresignExpiry is the longest X-Amz-Expires a presigned URL may carry.
const maxPresignExpiry = 7 * 24 * time.Hour

const (
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
	terminator = "aws4_request"
)

// Errors, each wrapped in an *Error that carries the sentence AWS answers
// with; match with errors.Is.
var (
	// ErrMissing: the request carries no signature at all.
	ErrMissing = errors.New("request is not signed")
	// ErrMalformed: the Authorization header or presigned query is
	// incomplete or not in the Signature V4 form.
	ErrMalformed = errors.New("malformed signature")
	// ErrUnknownKey: the access key id is not one the verifier knows.
	ErrUnknownKey = errors.New("unknown access key id")
	// ErrMismatch: the signature does not match the request.
	ErrMismatch = errors.New("signature does not match")
	// ErrExpired: the signing time is too far from now, or a presigned URL
	// has expired.
	ErrExpired = errors.New("signature expired")
	// ErrScope: the credential scope names another date, region or service.
	ErrScope = errors.New("credential scope does not match the request")
	// ErrContentHash: X-Amz-Content-Sha256 does not match the body.
	ErrContentHash = errors.New("content hash does not match the body")
)

// Error is a verification failure: Kind is one of the package's sentinel
// errors and Message the sentence to answer the client with.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns Kind, so that errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Authorization is a parsed Signature V4 Authorization header (or the
// equivalent presigned query parameters).
type Authorization struct {
	AccessKeyID string
	Date        string // credential scope date, YYYYMMDD
	Region      string
	Service     string
	// SignedHeaders lists the signed header names as sent: lower case,
	// separated by ';' in the canonical request.
	SignedHeaders []string
	Signature     string // lower-case hex
}

// Scope is the credential scope, DATE/REGION/SERVICE/aws4_request.
func (a *Authorization) Scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + terminator
}

// ParseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Errors are *Error wrapping ErrMissing or ErrMalformed.
func ParseAuthorization(header string) (*Authorization, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, fail(ErrMissing, "Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(header, " ")
	if alg != Algorithm {
		return nil, fail(ErrMalformed, "Unsupported signing algorithm %q; only %s is accepted.", truncate(alg, 40), Algorithm)
	}
	var credential, signedHeaders, signature string
	var seen [3]bool
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fail(ErrMalformed, "Authorization header requires each component to be of the form key=value, not %q.", truncate(part, 40))
		}
		var i int
		switch k {
		case "Credential":
			i, credential = 0, v
		case "SignedHeaders":
			i, signedHeaders = 1, v
		case "Signature":
			i, signature = 2, v
		default:
			return nil, fail(ErrMalformed, "Authorization header has an unknown component %q.", truncate(k, 40))
		}
		if seen[i] {
			return nil, fail(ErrMalformed, "Authorization header has %s twice.", k)
		}
		seen[i] = true
	}
	for i, name := range [...]string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			return nil, fail(ErrMalformed, "Authorization header requires '%s' parameter.", name)
		}
	}
	return newAuthorization(credential, signedHeaders, signature)
}

func newAuthorization(credential, signedHeaders, signature string) (*Authorization, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return nil, fail(ErrMalformed, "Credential should be of the form ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request, not %q.", truncate(credential, 120))
	}
	if !isDate(parts[1]) {
		return nil, fail(ErrMalformed, "Credential date %q should be of the form YYYYMMDD.", truncate(parts[1], 20))
	}
	if parts[4] != terminator {
		return nil, fail(ErrMalformed, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", truncate(parts[4], 40))
	}
	if signedHeaders == "" {
		return nil, fail(ErrMalformed, "SignedHeaders should name at least the host header.")
	}
	headers := strings.Split(signedHeaders, ";")
	for _, h := range headers {
		if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, " \t:") {
			return nil, fail(ErrMalformed, "SignedHeaders should be lower-case header names separated by ';', not %q.", truncate(signedHeaders, 120))
		}
	}
	if len(signature) != 64 || !isLowerHex(signature) {
		return nil, fail(ErrMalformed, "Signature should be 64 lower-case hexadecimal digits.")
	}
	return &Authorization{
		AccessKeyID:   parts[0],
		Date:          parts[1],
		Region:        parts[2],
		Service:       parts[3],
		SignedHeaders: headers,
		Signature:     signature,
	}, nil
}

// Verifier checks the signatures of one service's requests.
type Verifier struct {
	// Service and Region are the credential scope requests must name,
	// e.g. "lambda" and "us-east-1".
	Service string
	Region  string
	// Secret returns the secret access key of an access key id.
	Secret func(accessKeyID string) (secret string, ok bool)
	// PathAsSent makes the canonical URI the path exactly as sent, as S3
	// wants; by default it is escaped once more, as every other service
	// wants.
	PathAsSent bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks r's signature and returns its parsed authorization.
//
// bodyHash is the hex SHA-256 of the body when the caller has read it, or
// "" when it has not (a streamed upload). The payload hash in the canonical
// request is the X-Amz-Content-Sha256 header's value when present (and it
// must then equal bodyHash, unless it is not a hash, such as
// UNSIGNED-PAYLOAD); otherwise it is bodyHash, which is then required.
func (v *Verifier) Verify(r *http.Request, bodyHash string) (*Authorization, error) {
	query := r.URL.RawQuery
	presigned := hasQueryParam(query, "X-Amz-Signature")
	var (
		auth     *Authorization
		err      error
		amzDate  string
		expires  time.Duration
		payloads []string // payload hashes to try
	)
	if presigned {
		auth, amzDate, expires, err = parsePresigned(query)
	} else {
		auth, err = ParseAuthorization(r.Header.Get("Authorization"))
		amzDate = r.Header.Get("X-Amz-Date")
		if amzDate == "" {
			if d := r.Header.Get("Date"); d != "" {
				t, perr := http.ParseTime(d)
				if perr != nil {
					return nil, fail(ErrMalformed, "Date header %q is not an HTTP date.", truncate(d, 40))
				}
				amzDate = t.UTC().Format(timeFormat)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if amzDate == "" {
		return nil, fail(ErrMalformed, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	signedAt, perr := time.Parse(timeFormat, amzDate)
	if perr != nil {
		return nil, fail(ErrMalformed, "X-Amz-Date %q should be of the form YYYYMMDD'T'HHMMSS'Z'.", truncate(amzDate, 40))
	}
	if !containsHost(auth.SignedHeaders) {
		return nil, fail(ErrMalformed, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	secret, ok := "", false
	if v.Secret != nil {
		secret, ok = v.Secret(auth.AccessKeyID)
	}
	if !ok {
		return nil, fail(ErrUnknownKey, "The security token included in the request is invalid.")
	}
	if auth.Date != amzDate[:8] {
		return nil, fail(ErrScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", auth.Date, amzDate[:8], amzDate)
	}
	if auth.Region != v.Region {
		return nil, fail(ErrScope, "Credential should be scoped to a valid region, not '%s'.", truncate(auth.Region, 40))
	}
	if auth.Service != v.Service {
		return nil, fail(ErrScope, "Credential should be scoped to correct service: '%s'.", v.Service)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now().UTC()
	if presigned {
		if signedAt.After(t.Add(MaxSkew)) {
			return nil, fail(ErrExpired, "Request is not yet valid: it was signed for %s, later than %s.", amzDate, t.Format(timeFormat))
		}
		if t.After(signedAt.Add(expires)) {
			return nil, fail(ErrExpired, "Request has expired: it was valid until %s.", signedAt.Add(expires).Format(timeFormat))
		}
	} else {
		if signedAt.Before(t.Add(-MaxSkew)) {
			return nil, fail(ErrExpired, "Signature expired: %s is now earlier than %s (%s - %d min.)",
				amzDate, t.Add(-MaxSkew).Format(timeFormat), t.Format(timeFormat), int(MaxSkew/time.Minute))
		}
		if signedAt.After(t.Add(MaxSkew)) {
			return nil, fail(ErrExpired, "Signature not yet current: %s is still later than %s (%s + %d min.)",
				amzDate, t.Add(MaxSkew).Format(timeFormat), t.Format(timeFormat), int(MaxSkew/time.Minute))
		}
	}

	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case claimed != "":
		if bodyHash != "" && isHash(claimed) && !strings.EqualFold(claimed, bodyHash) {
			return nil, fail(ErrContentHash, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		payloads = []string{claimed}
	case presigned:
		// S3 presigns with UNSIGNED-PAYLOAD; other services with the
		// body's hash.
		payloads = []string{UnsignedPayload}
		if bodyHash != "" {
			payloads = append(payloads, bodyHash)
		}
	case bodyHash != "":
		payloads = []string{bodyHash}
	default:
		return nil, fail(ErrMalformed, "The request must carry an 'X-Amz-Content-Sha256' header.")
	}

	key := SigningKey(secret, auth.Date, auth.Region, auth.Service)
	want, err := hex.DecodeString(auth.Signature)
	if err != nil {
		return nil, fail(ErrMalformed, "Signature should be 64 lower-case hexadecimal digits.")
	}
	for _, payload := range payloads {
		creq := v.CanonicalRequest(r, auth.SignedHeaders, payload, presigned)
		sts := StringToSign(amzDate, auth.Scope(), creq)
		if hmac.Equal(hmacSHA256(key, sts), want) {
			return auth, nil
		}
	}
	return nil, fail(ErrMismatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func parsePresigned(rawQuery string) (*Authorization, string, time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, "", 0, fail(ErrMalformed, "The query string is malformed: %v.", err)
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		return nil, "", 0, fail(ErrMalformed, "X-Amz-Algorithm must be %s, not %q.", Algorithm, truncate(alg, 40))
	}
	for _, name := range [...]string{"X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date"} {
		if len(q[name]) != 1 {
			return nil, "", 0, fail(ErrMalformed, "A presigned request requires one '%s' query parameter.", name)
		}
	}
	auth, err := newAuthorization(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"))
	if err != nil {
		return nil, "", 0, err
	}
	expires := maxPresignExpiry
	if s := q.Get("X-Amz-Expires"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxPresignExpiry {
			return nil, "", 0, fail(ErrMalformed, "X-Amz-Expires must be a whole number of seconds from 0 to %d.", int(maxPresignExpiry/time.Second))
		}
		expires = time.Duration(n) * time.Second
	}
	return auth, q.Get("X-Amz-Date"), expires, nil
}

// CanonicalRequest builds the canonical request of r: method, canonical
// URI, canonical query (without X-Amz-Signature when presigned), the
// signed headers and the payload hash, one per line.
func (v *Verifier) CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := requestPath(r)
	if !v.PathAsSent {
		path = escapePath(path)
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, presigned))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// StringToSign is the string a Signature V4 signature signs.
func StringToSign(amzDate, scope, canonicalRequest string) []byte {
	h := sha256.Sum256([]byte(canonicalRequest))
	s := make([]byte, 0, len(Algorithm)+len(amzDate)+len(scope)+3+64)
	s = append(s, Algorithm...)
	s = append(s, '\n')
	s = append(s, amzDate...)
	s = append(s, '\n')
	s = append(s, scope...)
	s = append(s, '\n')
	return hex.AppendEncode(s, h[:])
}

// SigningKey derives the signing key of a secret for one day, region and
// service.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(terminator))
}

// PayloadHash is the hex SHA-256 of a body.
func PayloadHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// requestPath is the escaped path exactly as the client sent it.
func requestPath(r *http.Request) string {
	p := r.RequestURI
	if strings.HasPrefix(p, "/") {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p
	}
	if p = r.URL.EscapedPath(); p == "" {
		p = "/"
	}
	return p
}

// escapePath escapes every byte but the unreserved ones and '/'.
func escapePath(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if !unreserved(p[i]) && p[i] != '/' {
			n++
		}
	}
	if n == 0 {
		return p
	}
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) || c == '/' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

const upperHex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// escapeQuery encodes a query name or value as Signature V4 wants: every
// byte but the unreserved ones, with upper-case hex, a space as %20.
func escapeQuery(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = make([]byte, i, len(s)+16)
			copy(b, s[:i])
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	if b == nil {
		return s
	}
	return string(b)
}

// canonicalQuery decodes each name and value, re-encodes them and sorts
// the pairs after encoding, as the specification says.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(val); err == nil {
			val = dv
		}
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{escapeQuery(k), escapeQuery(val)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// headerValue is the canonical value of a signed header: its values
// trimmed, inner runs of spaces collapsed, joined by ','. Go's server moves
// Host, Content-Length and Transfer-Encoding out of the header map.
func headerValue(r *http.Request, name string) string {
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		switch name {
		case "host":
			vs = []string{r.Host}
		case "content-length":
			if r.ContentLength >= 0 {
				vs = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		case "transfer-encoding":
			vs = r.TransferEncoding
		}
	}
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(collapseSpaces(strings.TrimSpace(v)))
	}
	return b.String()
}

func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func hasQueryParam(raw, name string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == name {
			return true
		}
	}
	return false
}

func containsHost(headers []string) bool {
	for _, h := range headers {
		if h == "host" {
			return true
		}
	}
	return false
}

func isDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isHash reports whether s is a hex SHA-256 rather than a keyword such as
// UNSIGNED-PAYLOAD.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

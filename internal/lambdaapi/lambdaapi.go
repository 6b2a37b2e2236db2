// Package lambdaapi serves the AWS Lambda API under /2015-03-31/ as AWS
// does, so that the AWS SDKs and the AWS CLI, pointed at a node with an
// endpoint override, invoke gureum functions unchanged:
//
//	POST /2015-03-31/functions/{FunctionName}/invocations   Invoke
//	GET  /2015-03-31/functions/{FunctionName}                GetFunction
//	GET  /2015-03-31/functions/{FunctionName}/configuration  GetFunctionConfiguration
//	GET  /2015-03-31/functions/                              ListFunctions
//
// Errors come in AWS's REST-JSON form (x-amzn-ErrorType and a JSON body),
// so that SDK callers get the typed exceptions. When the node has an access
// key, requests must carry a valid Signature V4 for service "lambda" in the
// node's region; without one, any credentials are accepted.
package lambdaapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/sigv4"
)

// Invoker runs one synchronous invocation; implemented by invoke.
type Invoker interface {
	Invoke(ctx context.Context, req *invoke.Request) (*invoke.Result, error)
}

// Functions reads the function registry; implemented by registry.
type Functions interface {
	// Get returns the version a qualifier ("", "$LATEST", a number or an
	// alias) names, or an error matching registry.ErrNotFound.
	Get(ctx context.Context, name, qualifier string) (*registry.Version, error)
	// LatestAll returns the $LATEST version of every function, sorted by name.
	LatestAll(ctx context.Context) ([]*registry.Version, error)
}

// AsyncInvoker accepts asynchronous invocations durably; implemented by the
// node on its async event path.
type AsyncInvoker interface {
	InvokeAsync(ctx context.Context, function, qualifier string, payload []byte, traceparent string) (requestID string, err error)
}

// MaxAsyncPayloadBytes is the largest event of an asynchronous invocation,
// as in Lambda.
const MaxAsyncPayloadBytes = 1 << 20

// Config wires a Handler. Invoker and Functions are required.
type Config struct {
	Invoker   Invoker
	Functions Functions
	// Async serves InvocationType Event; nil refuses it.
	Async AsyncInvoker
	// Region and AccountID appear in ARNs; Region is also the Signature V4
	// scope. Defaults: "us-east-1" and "000000000000".
	Region    string
	AccountID string
	// AccessKeyID and SecretAccessKey, when both are set, are the only
	// credentials accepted; when empty, requests are not authenticated.
	AccessKeyID     string
	SecretAccessKey string
}

// Defaults for the Config fields left empty.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
)

// Prefix is the path prefix the API is served under.
const Prefix = "/2015-03-31/"

// Headers of the Invoke operation.
const (
	HeaderRequestID       = "X-Amzn-Requestid"
	HeaderInvocationType  = "X-Amz-Invocation-Type"
	HeaderLogType         = "X-Amz-Log-Type"
	HeaderLogResult       = "X-Amz-Log-Result"
	HeaderFunctionError   = "X-Amz-Function-Error"
	HeaderExecutedVersion = "X-Amz-Executed-Version"
)

// MaxLogResultBytes is how much of an invocation's log X-Amz-Log-Result
// carries: its last 4 KB, as in Lambda.
const MaxLogResultBytes = 4 << 10

// Handler serves the Lambda API. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	verifier *sigv4.Verifier // nil: no authentication
	newID    func() string
}

// New returns the Lambda API handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	h := &Handler{cfg: cfg, newID: invoke.NewRequestID}
	if cfg.AccessKeyID != "" && cfg.SecretAccessKey != "" {
		id, secret := cfg.AccessKeyID, cfg.SecretAccessKey
		h.verifier = &sigv4.Verifier{
			Service: "lambda",
			Region:  cfg.Region,
			Secret: func(keyID string) (string, bool) {
				if subtle.ConstantTimeCompare([]byte(keyID), []byte(id)) == 1 {
					return secret, true
				}
				return "", false
			},
		}
	}
	return h
}

// ServeHTTP reads and authenticates the request, then runs its operation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := h.newID()
	w.Header()[HeaderRequestID] = []string{rid}
	op, name, ok := route(r)
	if !ok {
		newError(CodeUnknownOperation, "No Lambda operation "+r.Method+" "+clip(r.URL.Path)+
			" on this node; it serves Invoke, GetFunction, GetFunctionConfiguration and ListFunctions.").write(w)
		return
	}
	body, aerr := readBody(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	if aerr := h.authenticate(r, body); aerr != nil {
		aerr.write(w)
		return
	}
	switch op {
	case opInvoke:
		h.invoke(w, r, rid, name, body)
	case opGetFunction, opGetFunctionConfiguration:
		h.getFunction(w, r, name, op == opGetFunction)
	case opListFunctions:
		h.listFunctions(w, r)
	}
}

type operation int

const (
	opInvoke operation = iota + 1
	opGetFunction
	opGetFunctionConfiguration
	opListFunctions
)

// route picks the operation and, for those on one function, the unescaped
// FunctionName path parameter.
func route(r *http.Request) (operation, string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), Prefix+"functions")
	if !ok {
		return 0, "", false
	}
	if rest == "" || rest == "/" {
		return opListFunctions, "", r.Method == http.MethodGet
	}
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	name, err := url.PathUnescape(segs[0])
	if err != nil || name == "" {
		return 0, "", false
	}
	switch {
	case len(segs) == 2 && segs[1] == "invocations" && r.Method == http.MethodPost:
		return opInvoke, name, true
	case len(segs) == 1 && r.Method == http.MethodGet:
		return opGetFunction, name, true
	case len(segs) == 2 && segs[1] == "configuration" && r.Method == http.MethodGet:
		return opGetFunctionConfiguration, name, true
	}
	return 0, "", false
}

// drainLimit bounds how much of an oversized body is read and discarded so
// that the client, still sending, sees the 413 rather than a reset.
const drainLimit = 8 << 20

// readBody reads the whole body, at most invoke.MaxPayloadBytes.
func readBody(r *http.Request) ([]byte, *apiError) {
	tooLarge := newError(CodeRequestTooLarge, "Request must be smaller than "+strconv.Itoa(invoke.MaxPayloadBytes)+" bytes for the InvokeFunction operation")
	if r.ContentLength > invoke.MaxPayloadBytes {
		if r.ContentLength <= invoke.MaxPayloadBytes+drainLimit {
			io.Copy(io.Discard, r.Body) //nolint:errcheck // only draining
		}
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, invoke.MaxPayloadBytes+1))
	if err != nil {
		return nil, newError(CodeInvalidRequestContent, "Could not read the request body: "+err.Error())
	}
	if n > invoke.MaxPayloadBytes {
		io.CopyN(io.Discard, r.Body, drainLimit) //nolint:errcheck // only draining
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}

// authenticate checks the request's Signature V4 when the node has keys.
func (h *Handler) authenticate(r *http.Request, body []byte) *apiError {
	if h.verifier == nil {
		return nil
	}
	_, err := h.verifier.Verify(r, sigv4.PayloadHash(body))
	if err == nil {
		return nil
	}
	msg := err.Error()
	var se *sigv4.Error
	if errors.As(err, &se) {
		msg = se.Message
	}
	switch {
	case errors.Is(err, sigv4.ErrMissing):
		return newError(CodeMissingToken, msg)
	case errors.Is(err, sigv4.ErrUnknownKey):
		return newError(CodeUnrecognizedClient, msg)
	case errors.Is(err, sigv4.ErrMalformed):
		return newError(CodeIncompleteSignature, msg)
	}
	// Mismatch, expiry, scope and content hash: Lambda answers them all
	// as InvalidSignatureException.
	return newError(CodeInvalidSignature, msg)
}

// arn is the ARN of a function, qualified when qualifier is not empty.
func (h *Handler) arn(name, qualifier string) string {
	s := "arn:aws:lambda:" + h.cfg.Region + ":" + h.cfg.AccountID + ":function:" + name
	if qualifier != "" {
		s += ":" + qualifier
	}
	return s
}

// resolveRef checks a FunctionName (and the Qualifier query parameter)
// and returns the function name and qualifier it names.
func (h *Handler) resolveRef(r *http.Request, rawName string) (name, qualifier string, aerr *apiError) {
	ref, err := parseFunctionName(rawName)
	if err != nil {
		return "", "", newError(CodeValidation, err.Error())
	}
	q := r.URL.Query()
	qualifier = ref.Qualifier
	if qv := q.Get("Qualifier"); qv != "" {
		if !validQualifier(qv) {
			return "", "", newError(CodeValidation, "1 validation error detected: Value '"+clip(qv)+
				"' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
		}
		if qualifier != "" && qualifier != qv {
			return "", "", newError(CodeInvalidParameterValue, "The derived qualifier from the function name does not match the specified qualifier.")
		}
		qualifier = qv
	}
	if ref.Region != "" && ref.Region != h.cfg.Region {
		return "", "", newError(CodeResourceNotFound, "Functions from '"+ref.Region+"' are not reachable in this region ('"+h.cfg.Region+"')")
	}
	// The account in an ARN is not checked: one node serves one account,
	// and scripts that carry their real account id keep working.
	return ref.Name, qualifier, nil
}

func (h *Handler) notFound(name, qualifier string) *apiError {
	return newError(CodeResourceNotFound, "Function not found: "+h.arn(name, qualifier))
}

// lookup resolves a function version through the registry.
func (h *Handler) lookup(ctx context.Context, name, qualifier string) (*registry.Version, *apiError) {
	v, err := h.cfg.Functions.Get(ctx, name, qualifier)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, h.notFound(name, qualifier)
	case err != nil:
		return nil, newError(CodeService, "Could not read function "+name+": "+err.Error())
	}
	return v, nil
}

var _ http.Handler = (*Handler)(nil)

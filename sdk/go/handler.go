package gureum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/handlertrace"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// This file adapts a handler to bytes in, bytes out, with the rules and
// results of aws-lambda-go's lambda.NewHandler. The wasm build does not
// import package lambda itself: its Runtime API client keeps net/http, TLS
// and net/rpc in every module, which makes a module about three times larger
// (15.7 MB instead of 5.6 MB for an API Gateway handler) and slower to
// compile and to instantiate. sdk_test.go checks both adapters agree.

// invoker is the form of an adapted handler, and the interface of
// lambda.Handler, which Start also accepts.
type invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// reflectHandler calls a handler function through reflection. It reuses its
// buffers: a result is valid until the next call, and calls must not
// overlap (the host makes one at a time).
type reflectHandler struct {
	fn           reflect.Value
	takesContext bool
	eventType    reflect.Type // nil when the handler takes no event
	args         [2]reflect.Value
	out          bytes.Buffer
	enc          *json.Encoder  // writes to out
	apiGateway   apiGatewayCall // fn set for the common API Gateway forms
	buf          []byte         // the last API Gateway response
}

// errorHandler reports a handler that cannot be called, on every invocation,
// as lambda.NewHandler does.
type errorHandler struct{ err error }

func (h errorHandler) Invoke(context.Context, []byte) ([]byte, error) { return nil, h.err }

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// newHandler adapts handler, which takes a form lambda.Start accepts.
func newHandler(handler any) invoker {
	if handler == nil {
		return errorHandler{errors.New("handler is nil")}
	}
	if h, ok := handler.(invoker); ok {
		return h
	}
	fn := reflect.ValueOf(handler)
	t := fn.Type()
	if t.Kind() != reflect.Func {
		return errorHandler{fmt.Errorf("handler kind %s is not %s", t.Kind(), reflect.Func)}
	}
	takesContext, err := handlerTakesContext(t)
	if err != nil {
		return errorHandler{err}
	}
	if err := validateReturns(t); err != nil {
		return errorHandler{err}
	}
	h := &reflectHandler{fn: fn, takesContext: takesContext, apiGateway: apiGatewayCallOf(handler)}
	h.enc = json.NewEncoder(&h.out)
	h.enc.SetEscapeHTML(false)
	if (t.NumIn() == 1 && !takesContext) || t.NumIn() == 2 {
		h.eventType = t.In(t.NumIn() - 1)
	}
	return h
}

func handlerTakesContext(t reflect.Type) (bool, error) {
	switch t.NumIn() {
	case 0:
		return false, nil
	case 1:
		arg := t.In(0)
		if arg.Kind() != reflect.Interface || arg.NumMethod() == 0 {
			return false, nil
		}
		if !contextType.Implements(arg) || !arg.Implements(contextType) {
			return false, fmt.Errorf("handler takes an interface, but it is not context.Context: %q", arg.Name())
		}
		return true, nil
	case 2:
		arg := t.In(0)
		if arg.Kind() != reflect.Interface || !contextType.Implements(arg) || !arg.Implements(contextType) {
			return false, fmt.Errorf("handler takes two arguments, but the first is not Context. got %s", arg.Kind())
		}
		return true, nil
	}
	return false, fmt.Errorf("handlers may not take more than two arguments, but handler takes %d", t.NumIn())
}

func validateReturns(t reflect.Type) error {
	switch n := t.NumOut(); {
	case n > 2:
		return errors.New("handler may not return more than two values")
	case n == 2:
		if !t.Out(1).Implements(errorType) {
			return errors.New("handler returns two values, but the second does not implement error")
		}
	case n == 1:
		if !t.Out(0).Implements(errorType) {
			return errors.New("handler returns a single value, but it does not implement error")
		}
	}
	return nil
}

// Invoke decodes the event, calls the handler and encodes its result.
func (h *reflectHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if h.apiGateway.fn != nil {
		if out, ok, err := h.invokeAPIGateway(ctx, payload); ok {
			return out, err
		}
	}
	trace := handlertrace.FromContext(ctx)
	var err error
	args := h.args[:0]
	defer clear(h.args[:])
	if h.takesContext {
		args = append(args, reflect.ValueOf(ctx))
	}
	if h.eventType != nil {
		event := reflect.New(h.eventType)
		if h.eventType != apiRequestType && h.eventType != apiRequestPtr {
			err = json.Unmarshal(payload, event.Interface())
		} else if h.apiGateway.fn != nil || !decodeEvent(payload, event) {
			// (A handler with an apiGateway call has tried the fast
			// decoder already.)
			event = reflect.New(h.eventType)
			err = json.Unmarshal(payload, event.Interface())
		}
		if err != nil {
			// lambda.NewHandler decodes with a json.Decoder, which differs
			// from Unmarshal on trailing data and in its errors; Unmarshal
			// is faster when the event is well formed.
			event = reflect.New(h.eventType)
			if err := json.NewDecoder(bytes.NewReader(payload)).Decode(event.Interface()); err != nil {
				return nil, err
			}
		}
		if trace.RequestEvent != nil {
			trace.RequestEvent(ctx, event.Elem().Interface())
		}
		args = append(args, event.Elem())
	}

	results := h.fn.Call(args)
	if n := len(results); n > 0 {
		if err, ok := results[n-1].Interface().(error); ok && err != nil {
			return nil, err
		}
	}
	var val any
	if len(results) > 1 {
		val = results[0].Interface()
		if trace.ResponseEvent != nil {
			trace.ResponseEvent(ctx, val)
		}
	}

	switch v := val.(type) {
	case apiResponse:
		h.buf = appendAPIGatewayV2HTTPResponse(h.buf[:0], &v)
		return h.buf, nil
	case *apiResponse:
		if v != nil {
			h.buf = appendAPIGatewayV2HTTPResponse(h.buf[:0], v)
			return h.buf, nil
		}
	}
	h.out.Reset()
	if err := h.enc.Encode(val); err != nil {
		// A value that is not JSON but is a reader is returned as it reads.
		if r, ok := val.(io.Reader); ok {
			return h.read(r)
		}
		return nil, err
	}
	// A reader that encodes to an empty object is returned as it reads.
	if r, ok := val.(io.Reader); ok && strings.HasPrefix(h.out.String(), "{}") {
		return h.read(r)
	}
	h.out.Truncate(h.out.Len() - 1) // the encoder's trailing newline
	return h.out.Bytes(), nil
}

func (h *reflectHandler) read(r io.Reader) ([]byte, error) {
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	h.out.Reset()
	if _, err := h.out.ReadFrom(r); err != nil {
		return nil, err
	}
	return h.out.Bytes(), nil
}

// errorDocument is the Lambda error document for a handler error or a panic
// value, typed as aws-lambda-go types it.
func errorDocument(v any, message string) []byte {
	doc, ok := v.(messages.InvokeResponse_Error)
	if !ok {
		doc = messages.InvokeResponse_Error{Message: message, Type: typeName(v)}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		b, _ = json.Marshal(messages.InvokeResponse_Error{Message: err.Error(), Type: "Runtime.SerializationError"})
	}
	return b
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

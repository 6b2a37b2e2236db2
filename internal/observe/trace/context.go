package trace

import (
	"context"
	"strings"

	oteltrace "go.opentelemetry.io/otel/trace"
)

// traceParentLen is the length of a version 00 traceparent:
// "00-" + 32 hex + "-" + 16 hex + "-" + 2 hex.
const traceParentLen = 55

// ContextWithTraceParent returns ctx with the span described by a W3C
// traceparent header value as its remote parent, so that the next span
// started from it continues that trace. An empty or invalid traceparent
// returns ctx itself, unchanged.
func ContextWithTraceParent(ctx context.Context, traceparent string) context.Context {
	sc, ok := parseTraceParent(traceparent)
	if !ok {
		return ctx
	}
	return oteltrace.ContextWithRemoteSpanContext(ctx, sc)
}

// TraceParent returns the W3C traceparent ("00-<trace id>-<span id>-<flags>")
// of the span in ctx, local or remote, or "" when ctx carries none.
func TraceParent(ctx context.Context) string {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	var b [traceParentLen]byte
	buf := append(b[:0], "00-"...)
	buf = append(buf, sc.TraceID().String()...)
	buf = append(buf, '-')
	buf = append(buf, sc.SpanID().String()...)
	buf = append(buf, '-')
	buf = appendHexByte(buf, byte(sc.TraceFlags()))
	return string(buf)
}

// TraceID returns the trace id (32 lowercase hex digits) of the span in ctx,
// or "" when ctx carries none.
func TraceID(ctx context.Context) string {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// parseTraceParent parses a traceparent header value as the W3C Trace
// Context recommendation describes it: lowercase hex fields, version ff
// invalid, all-zero ids invalid, version 00 exactly 55 characters, and a
// later version possibly followed by more fields after a '-'. Surrounding
// spaces and tabs are ignored.
func parseTraceParent(s string) (oteltrace.SpanContext, bool) {
	s = strings.Trim(s, " \t")
	if len(s) < traceParentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return oteltrace.SpanContext{}, false
	}
	version, ok := parseHexByte(s[0:2])
	if !ok || version == 0xff {
		return oteltrace.SpanContext{}, false
	}
	if version == 0 && len(s) != traceParentLen {
		return oteltrace.SpanContext{}, false
	}
	if len(s) > traceParentLen && s[traceParentLen] != '-' {
		return oteltrace.SpanContext{}, false
	}
	var tid oteltrace.TraceID
	if !decodeHex(tid[:], s[3:35]) {
		return oteltrace.SpanContext{}, false
	}
	var sid oteltrace.SpanID
	if !decodeHex(sid[:], s[36:52]) {
		return oteltrace.SpanContext{}, false
	}
	flags, ok := parseHexByte(s[53:55])
	if !ok {
		return oteltrace.SpanContext{}, false
	}
	sc := oteltrace.NewSpanContext(oteltrace.SpanContextConfig{
		TraceID: tid,
		SpanID:  sid,
		// Only the sampled flag is defined; other bits are not carried on.
		TraceFlags: oteltrace.TraceFlags(flags) & oteltrace.FlagsSampled,
		Remote:     true,
	})
	if !sc.IsValid() { // an all-zero trace or span id
		return oteltrace.SpanContext{}, false
	}
	return sc, true
}

// decodeHex fills dst from the lowercase hex digits in s (2 per byte).
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		b, ok := parseHexByte(s[2*i : 2*i+2])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func parseHexByte(s string) (byte, bool) {
	hi, ok1 := hexDigit(s[0])
	lo, ok2 := hexDigit(s[1])
	return hi<<4 | lo, ok1 && ok2
}

// hexDigit accepts lowercase digits only, as traceparent requires.
func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

func appendHexByte(b []byte, v byte) []byte {
	return append(b, hexDigits[v>>4], hexDigits[v&0xf])
}

package gureum

import (
	"context"
	"os"
	"strings"
)

// TraceParent returns the invocation's trace context as a W3C traceparent
// ("00-<trace id>-<span id>-<flags>"), or "" when the invocation is not
// traced. gureum hands it to every invocation — from an HTTP request's
// traceparent header, or carried through queues, topics and schedules — and
// messages the function publishes or sends carry it on, so the invocations
// they trigger join the same trace. Pass it to outgoing requests to extend
// the trace further.
//
// On AWS Lambda, or on gureum's process runtime, the context arrives in
// X-Ray's form (_X_AMZN_TRACE_ID, "Root=1-…;Parent=…;Sampled=…"), and
// TraceParent converts it.
func TraceParent(ctx context.Context) string {
	v, _ := ctx.Value(traceKey).(string)
	if v == "" {
		v = os.Getenv("_X_AMZN_TRACE_ID")
	}
	return toTraceParent(v)
}

// toTraceParent reads a W3C traceparent or an X-Ray trace header.
func toTraceParent(v string) string {
	v = strings.TrimSpace(v)
	if len(v) == 55 && v[2] == '-' && v[35] == '-' && v[52] == '-' && lowerHex(v[:2]+v[3:35]+v[36:52]+v[53:]) {
		return v
	}
	var root, parent, sampled string
	for field := range strings.SplitSeq(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(field), "=")
		switch k {
		case "Root":
			root = val
		case "Parent":
			parent = val
		case "Sampled":
			sampled = val
		}
	}
	// Root=1-<8 hex time>-<24 hex>: the 32 hex digits of a W3C trace id.
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' || len(parent) != 16 {
		return ""
	}
	id := root[2:10] + root[11:]
	if !lowerHex(id) || !lowerHex(parent) {
		return ""
	}
	flags := "00"
	if sampled == "1" {
		flags = "01"
	}
	return "00-" + id + "-" + parent + "-" + flags
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

package host

import "strings"

// TraceParent returns the W3C traceparent of a trace header in either of the
// forms an invocation carries: a traceparent ("00-<32 hex>-<16 hex>-<2
// hex>") as it is, or an X-Ray header ("Root=1-<8 hex>-<24 hex>;Parent=<16
// hex>;Sampled=<0|1>", what Lambda runtimes see) translated: the X-Ray trace
// id is the W3C trace id with its first 8 digits split off. Anything else,
// and an X-Ray header without a parent, gives "".
func TraceParent(header string) string {
	h := strings.TrimSpace(header)
	if isTraceParent(h) {
		return h
	}
	var root, parent, sampled string
	for field := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			continue
		}
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v
		}
	}
	// Root=1-<8 hex>-<24 hex>
	if len(root) != 35 || root[:2] != "1-" || root[10] != '-' || !isLowerHex(root[2:10]) || !isLowerHex(root[11:]) {
		return ""
	}
	if len(parent) != 16 || !isLowerHex(parent) || strings.Trim(parent, "0") == "" {
		return ""
	}
	id := root[2:10] + root[11:]
	if strings.Trim(id, "0") == "" {
		return ""
	}
	flags := "00"
	if sampled == "1" {
		flags = "01"
	}
	return "00-" + id + "-" + parent + "-" + flags
}

// isTraceParent reports whether v is a version-00 W3C traceparent with a
// non-zero trace id and parent id.
func isTraceParent(v string) bool {
	if len(v) != 55 || v[:3] != "00-" || v[35] != '-' || v[52] != '-' {
		return false
	}
	id, parent, flags := v[3:35], v[36:52], v[53:]
	return isLowerHex(id) && isLowerHex(parent) && isLowerHex(flags) &&
		strings.Trim(id, "0") != "" && strings.Trim(parent, "0") != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

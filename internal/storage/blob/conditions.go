package blob

import (
	"fmt"
	"strings"
	"time"
)

// checkConditions evaluates a read's conditional headers against an
// object in RFC 7232's order: If-Match (or, without it,
// If-Unmodified-Since) fails with ErrPrecondition; then If-None-Match (or,
// without it, If-Modified-Since) gives ErrNotModified. Times compare at
// whole seconds, as HTTP dates carry them.
func checkConditions(c Conditions, etag string, modified, now time.Time) error {
	mod := modified.Truncate(time.Second)
	if c.IfMatch != "" {
		if !etagMatches(c.IfMatch, etag) {
			return fmt.Errorf("if-match %s, object %s: %w", c.IfMatch, etag, ErrPrecondition)
		}
	} else if !c.IfUnmodifiedSince.IsZero() && mod.After(c.IfUnmodifiedSince) {
		return fmt.Errorf("modified %s, after %s: %w", mod.Format(time.RFC3339), c.IfUnmodifiedSince.Format(time.RFC3339), ErrPrecondition)
	}
	if c.IfNoneMatch != "" {
		if etagMatches(c.IfNoneMatch, etag) {
			return fmt.Errorf("if-none-match %s: %w", c.IfNoneMatch, ErrNotModified)
		}
	} else if !c.IfModifiedSince.IsZero() && !c.IfModifiedSince.After(now) && !mod.After(c.IfModifiedSince) {
		// A date in the future is ignored (RFC 7232, 3.3).
		return fmt.Errorf("not modified since %s: %w", c.IfModifiedSince.Format(time.RFC3339), ErrNotModified)
	}
	return nil
}

// etagMatches reports whether a comma-separated list of entity tags
// (quoted or not, weak or not, or "*") names etag.
func etagMatches(list, etag string) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		item = strings.TrimPrefix(item, "W/")
		item = strings.Trim(item, `"`)
		if item == "*" || (item != "" && strings.EqualFold(item, etag)) {
			return true
		}
	}
	return false
}

// checkPutCondition applies a put's If-None-Match to the object there.
func checkPutCondition(ifNoneMatch string, cur stored) error {
	if ifNoneMatch == "" || !cur.live() {
		return nil
	}
	if etagMatches(ifNoneMatch, cur.d.Headers.Get(hdrETag)) {
		return fmt.Errorf("if-none-match %s: key %q exists: %w", ifNoneMatch, cur.d.Name, ErrPrecondition)
	}
	return nil
}

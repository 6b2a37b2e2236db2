package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gureum/gureum/internal/admin"
)

// InvocationQuery selects a function's invocation records.
type InvocationQuery struct {
	Since      string // a duration back from now (10m, 24h, 7d) or an RFC 3339 time; "" = no lower bound
	ErrorsOnly bool   // only invocations that did not succeed
	Trigger    string // "" = every trigger
	Limit      int    // the newest N; 0 = the node's default (admin.DefaultRecordLimit)
}

// Invocations lists a function's invocation records, oldest first.
func (c *Client) Invocations(ctx context.Context, function string, q InvocationQuery) ([]admin.InvocationRecord, error) {
	v := url.Values{}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.ErrorsOnly {
		v.Set("errors", "1")
	}
	if q.Trigger != "" {
		v.Set("trigger", q.Trigger)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/functions/" + url.PathEscape(function) + "/invocations"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []admin.InvocationRecord
	_, err := c.call(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Invocation returns one invocation's record and its log lines.
func (c *Client) Invocation(ctx context.Context, requestID string) (*admin.InvocationDetail, error) {
	var out admin.InvocationDetail
	if _, err := c.call(ctx, http.MethodGet, "/invocations/"+url.PathEscape(requestID), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Trace returns the stored spans of a trace, ordered by start.
func (c *Client) Trace(ctx context.Context, traceID string) ([]admin.TraceSpan, error) {
	var out []admin.TraceSpan
	_, err := c.call(ctx, http.MethodGet, "/traces/"+url.PathEscape(traceID), nil, &out)
	return out, err
}

// Cost reports the pay-per-use cost of the invocations since a duration
// back from now (24h, 7d) or an RFC 3339 time, grouped by
// admin.CostByFunction or admin.CostByTrigger; "" takes the node's
// defaults (the last 24 hours, by function).
func (c *Client) Cost(ctx context.Context, since, by string) (*admin.CostReport, error) {
	v := url.Values{}
	if since != "" {
		v.Set("since", since)
	}
	if by != "" {
		v.Set("by", by)
	}
	path := "/cost"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out admin.CostReport
	if _, err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Package apiclient is a typed client of a node's admin API, used by the CLI.
package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/observe"
	"github.com/gureum/gureum/internal/registry"
)

// Client talks to one node.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the node at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string) *Client {
	return &Client{base: baseURL, token: token, http: &http.Client{}}
}

// Error is an error answered by the admin API.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message + " (" + e.Code + ")" }

// IsNotFound tells whether err is the API's not-found answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+admin.Prefix+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach gureum at %s: %w (is 'gureum up' running? set --url or GUREUM_URL)", c.base, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var eb admin.ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			eb = admin.ErrorBody{Code: http.StatusText(resp.StatusCode), Message: string(bytes.TrimSpace(data))}
		}
		if eb.Message == "" {
			eb.Message = http.StatusText(resp.StatusCode)
		}
		return nil, &Error{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// Functions lists the deployed functions.
func (c *Client) Functions(ctx context.Context) ([]admin.FunctionInfo, error) {
	var out []admin.FunctionInfo
	return out, c.getJSON(ctx, "/functions", &out)
}

// Function describes one function.
func (c *Client) Function(ctx context.Context, name string) (*admin.FunctionInfo, error) {
	var out admin.FunctionInfo
	return &out, c.getJSON(ctx, "/functions/"+url.PathEscape(name), &out)
}

// Versions lists a function's versions, oldest first.
func (c *Client) Versions(ctx context.Context, name string) ([]registry.Version, error) {
	var out []registry.Version
	return out, c.getJSON(ctx, "/functions/"+url.PathEscape(name)+"/versions", &out)
}

// DeleteFunction removes a function and all its versions.
func (c *Client) DeleteFunction(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/functions/"+url.PathEscape(name), nil, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// UploadArtifact uploads a file unless the node already has it.
func (c *Client) UploadArtifact(ctx context.Context, path, hash string) error {
	resp, err := c.do(ctx, http.MethodHead, "/artifacts/"+hash, nil, nil)
	if err == nil {
		resp.Body.Close()
		return nil
	}
	if !IsNotFound(err) {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	resp, err = c.do(ctx, http.MethodPut, "/artifacts/"+hash, f, http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	return resp.Body.Close()
}

// Deploy activates an app's functions.
func (c *Client) Deploy(ctx context.Context, req admin.DeployRequest) (*admin.DeployResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/deploy", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out admin.DeployResult
	return &out, json.NewDecoder(resp.Body).Decode(&out)
}

// InvokeResult is a direct invocation's outcome.
type InvokeResult struct {
	RequestID     string
	Version       string
	Payload       []byte
	FunctionError string // "", "Unhandled" or "Timeout"
	Cold          bool
	Duration      time.Duration
	InitDuration  time.Duration
	Log           string
}

// Invoke runs a function synchronously with payload as its event.
func (c *Client) Invoke(ctx context.Context, name, qualifier string, payload []byte, withLog bool) (*InvokeResult, error) {
	q := url.Values{}
	if qualifier != "" {
		q.Set("qualifier", qualifier)
	}
	if withLog {
		q.Set("log", "1")
	}
	path := "/functions/" + url.PathEscape(name) + "/invocations"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(payload), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	h := resp.Header
	res := &InvokeResult{
		RequestID:     h.Get(admin.HeaderRequestID),
		Version:       h.Get(admin.HeaderVersion),
		Payload:       data,
		FunctionError: h.Get(admin.HeaderFunctionError),
		Cold:          h.Get(admin.HeaderCold) == "true",
	}
	res.Duration, _ = time.ParseDuration(h.Get(admin.HeaderDuration))
	res.InitDuration, _ = time.ParseDuration(h.Get(admin.HeaderInitDuration))
	if s := h.Get("X-Gureum-Log"); s != "" {
		res.Log, _ = strconv.Unquote(s)
	}
	return res, nil
}

// LogQuery selects log lines.
type LogQuery struct {
	Since     string // a duration (10m) or an RFC 3339 time
	RequestID string
	Limit     int
	Follow    bool
}

// Logs reads a function's log lines, calling each for every one; with
// q.Follow it keeps reading until ctx ends.
func (c *Client) Logs(ctx context.Context, name string, q LogQuery, each func(observe.Entry) error) error {
	v := url.Values{}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.RequestID != "" {
		v.Set("request", q.RequestID)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Follow {
		v.Set("follow", "1")
	}
	path := "/functions/" + url.PathEscape(name) + "/logs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e observe.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		if err := each(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}

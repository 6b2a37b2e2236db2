package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gureum/gureum/internal/admin"
)

// HasCode tells whether err is an API answer with the given error code
// (admin.CodeQueueNotFound, ...).
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// call sends in (when not nil) as a JSON body and decodes the answer into out
// (when not nil). It returns the answer's status.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	var hdr http.Header
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(data)
		hdr = http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.do(ctx, method, path, body, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

func queuePath(name string) string { return "/queues/" + url.PathEscape(name) }
func topicPath(name string) string { return "/topics/" + url.PathEscape(name) }
func dlqPath(name string) string   { return "/dlqs/" + url.PathEscape(name) }

// InvokeAsync queues an asynchronous invocation of a function and returns
// its request id once the event is durable.
func (c *Client) InvokeAsync(ctx context.Context, name, qualifier string, payload []byte) (string, error) {
	path := "/functions/" + url.PathEscape(name) + "/invocations"
	if qualifier != "" {
		path += "?" + url.Values{"qualifier": {qualifier}}.Encode()
	}
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(payload), http.Header{
		"Content-Type":             {"application/json"},
		admin.HeaderInvocationType: {admin.InvocationEvent},
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out admin.AsyncAccepted
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("invoke %s: reading the answer: %w", name, err)
	}
	if resp.StatusCode != http.StatusAccepted || out.RequestID == "" {
		return "", fmt.Errorf("invoke %s: the node answered %d without a request id; does it serve asynchronous invocations?", name, resp.StatusCode)
	}
	return out.RequestID, nil
}

// Queues lists the queues.
func (c *Client) Queues(ctx context.Context) ([]admin.QueueInfo, error) {
	var out []admin.QueueInfo
	_, err := c.call(ctx, http.MethodGet, "/queues", nil, &out)
	return out, err
}

// Queue describes one queue.
func (c *Client) Queue(ctx context.Context, name string) (*admin.QueueInfo, error) {
	var out admin.QueueInfo
	if _, err := c.call(ctx, http.MethodGet, queuePath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutQueue creates a queue or updates its attributes; created tells which.
func (c *Client) PutQueue(ctx context.Context, name string, attrs admin.QueueAttributes) (info *admin.QueueInfo, created bool, err error) {
	var out admin.QueueInfo
	status, err := c.call(ctx, http.MethodPut, queuePath(name), attrs, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// DeleteQueue removes a queue and its messages.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodDelete, queuePath(name), nil, nil)
	return err
}

// SendMessages sends 1 to 10 messages. Entries can fail one by one: check
// each result's Error.
func (c *Client) SendMessages(ctx context.Context, queue string, req admin.SendRequest) (*admin.SendResponse, error) {
	var out admin.SendResponse
	if _, err := c.call(ctx, http.MethodPost, queuePath(queue)+"/messages", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReceiveMessages receives up to req.Max messages, waiting up to
// req.WaitSeconds for the first.
func (c *Client) ReceiveMessages(ctx context.Context, queue string, req admin.ReceiveRequest) (*admin.ReceiveResponse, error) {
	var out admin.ReceiveResponse
	if _, err := c.call(ctx, http.MethodPost, queuePath(queue)+"/receive", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteMessages deletes received messages by their receipt handles; the
// answer has one error (or nil) per handle.
func (c *Client) DeleteMessages(ctx context.Context, queue string, receipts []string) (*admin.DeleteMessagesResponse, error) {
	var out admin.DeleteMessagesResponse
	if _, err := c.call(ctx, http.MethodPost, queuePath(queue)+"/delete", admin.DeleteMessagesRequest{ReceiptHandles: receipts}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangeVisibility sets how long a received message stays invisible.
func (c *Client) ChangeVisibility(ctx context.Context, queue string, req admin.VisibilityRequest) error {
	_, err := c.call(ctx, http.MethodPost, queuePath(queue)+"/visibility", req, nil)
	return err
}

// PurgeQueue deletes every message of a queue and returns how many there were.
func (c *Client) PurgeQueue(ctx context.Context, queue string) (int, error) {
	var out admin.CountResponse
	_, err := c.call(ctx, http.MethodPost, queuePath(queue)+"/purge", nil, &out)
	return out.Count, err
}

// Topics lists the topics.
func (c *Client) Topics(ctx context.Context) ([]admin.TopicInfo, error) {
	var out []admin.TopicInfo
	_, err := c.call(ctx, http.MethodGet, "/topics", nil, &out)
	return out, err
}

// Topic describes one topic and its subscriptions.
func (c *Client) Topic(ctx context.Context, name string) (*admin.TopicInfo, error) {
	var out admin.TopicInfo
	if _, err := c.call(ctx, http.MethodGet, topicPath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutTopic creates a topic unless it exists; created tells which.
func (c *Client) PutTopic(ctx context.Context, name string) (info *admin.TopicInfo, created bool, err error) {
	var out admin.TopicInfo
	status, err := c.call(ctx, http.MethodPut, topicPath(name), struct{}{}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// DeleteTopic removes a topic and its subscriptions.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodDelete, topicPath(name), nil, nil)
	return err
}

// Publish publishes one message to a topic.
func (c *Client) Publish(ctx context.Context, topic string, req admin.PublishRequest) (*admin.PublishResponse, error) {
	var out admin.PublishResponse
	if _, err := c.call(ctx, http.MethodPost, topicPath(topic)+"/messages", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Subscribe adds a subscription to a topic.
func (c *Client) Subscribe(ctx context.Context, topic string, spec admin.SubscriptionSpec) (*admin.Subscription, error) {
	var out admin.Subscription
	if _, err := c.call(ctx, http.MethodPost, topicPath(topic)+"/subscriptions", spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unsubscribe removes a subscription from a topic.
func (c *Client) Unsubscribe(ctx context.Context, topic, id string) error {
	_, err := c.call(ctx, http.MethodDelete, topicPath(topic)+"/subscriptions/"+url.PathEscape(id), nil, nil)
	return err
}

// Schedules lists the functions' schedules.
func (c *Client) Schedules(ctx context.Context) ([]admin.ScheduleInfo, error) {
	var out []admin.ScheduleInfo
	_, err := c.call(ctx, http.MethodGet, "/schedules", nil, &out)
	return out, err
}

// DeadLetterQueues lists the queues that hold dead letters.
func (c *Client) DeadLetterQueues(ctx context.Context) ([]admin.QueueInfo, error) {
	var out []admin.QueueInfo
	_, err := c.call(ctx, http.MethodGet, "/dlqs", nil, &out)
	return out, err
}

// PeekMessages returns up to max messages of a dead-letter queue without
// receiving them; max 0 takes the node's default.
func (c *Client) PeekMessages(ctx context.Context, queue string, max int) ([]admin.Message, error) {
	path := dlqPath(queue) + "/messages"
	if max > 0 {
		path += "?max=" + strconv.Itoa(max)
	}
	var out []admin.Message
	_, err := c.call(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Replay sends a dead-letter queue's messages back to their sources.
func (c *Client) Replay(ctx context.Context, queue string, req admin.ReplayRequest) (*admin.ReplayResponse, error) {
	var out admin.ReplayResponse
	if _, err := c.call(ctx, http.MethodPost, dlqPath(queue)+"/replay", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PurgeDeadLetters deletes every message of a dead-letter queue and returns
// how many there were.
func (c *Client) PurgeDeadLetters(ctx context.Context, queue string) (int, error) {
	var out admin.CountResponse
	_, err := c.call(ctx, http.MethodPost, dlqPath(queue)+"/purge", nil, &out)
	return out.Count, err
}

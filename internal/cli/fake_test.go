package cli_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
)

// fakeNode is an in-memory admin.EventService behind the real admin handler:
// enough queue, topic and dead-letter behaviour to run the CLI against. (The
// admin package's tests have the same fake; test files cannot share it.)
type fakeNode struct {
	admin.Service

	mu        sync.Mutex
	fail      error // returned by every events method when set
	queues    map[string]*fakeQueue
	topics    map[string]*admin.TopicInfo
	schedules []admin.ScheduleInfo
	seq       int

	asyncCalls []asyncCall
	published  []admin.PublishRequest
	sends      []admin.SendRequest
	receives   []admin.ReceiveRequest
	peekMax    int
}

type asyncCall struct {
	function, qualifier, traceparent string
	payload                          string
}

type fakeQueue struct {
	info     admin.QueueInfo
	visible  []admin.Message
	inFlight map[string]admin.Message // by receipt handle
}

func newFakeNode() *fakeNode {
	return &fakeNode{queues: map[string]*fakeQueue{}, topics: map[string]*admin.TopicInfo{}}
}

func (f *fakeNode) next(prefix string) string {
	f.seq++
	return prefix + strconv.Itoa(f.seq)
}

func (f *fakeNode) queue(name string) (*fakeQueue, error) {
	q, ok := f.queues[name]
	if !ok {
		return nil, fmt.Errorf("queue %s: %w", name, admin.ErrQueueNotFound)
	}
	return q, nil
}

func (f *fakeNode) Invoke(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
	return &invoke.Result{RequestID: "sync-1", Version: "1", Payload: req.Payload}, nil
}

func (f *fakeNode) InvokeAsync(_ context.Context, function, qualifier string, payload []byte, traceparent string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	if function == "missing" {
		return "", fmt.Errorf("%w: %s", invoke.ErrFunctionNotFound, function)
	}
	f.asyncCalls = append(f.asyncCalls, asyncCall{function, qualifier, traceparent, string(payload)})
	return f.next("req-"), nil
}

func (f *fakeNode) Queues(context.Context) ([]admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []admin.QueueInfo
	for _, q := range f.queues {
		out = append(out, f.infoLocked(q))
	}
	slices.SortFunc(out, func(a, b admin.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeNode) infoLocked(q *fakeQueue) admin.QueueInfo {
	info := q.info
	info.Visible, info.InFlight = len(q.visible), len(q.inFlight)
	return info
}

func (f *fakeNode) Queue(_ context.Context, name string) (*admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	info := f.infoLocked(q)
	return &info, nil
}

func (f *fakeNode) PutQueue(_ context.Context, name string, attrs admin.QueueAttributes) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return false, f.fail
	}
	if attrs.Visibility < 0 {
		return false, fmt.Errorf("%w: visibility %s is negative", admin.ErrInvalid, attrs.Visibility)
	}
	if attrs.Visibility == 0 {
		attrs.Visibility = registry.Duration(30 * time.Second)
	}
	if attrs.Retention == 0 {
		attrs.Retention = registry.Duration(96 * time.Hour)
	}
	if attrs.MaxMessageBytes == 0 {
		attrs.MaxMessageBytes = 256 << 10
	}
	if q, ok := f.queues[name]; ok {
		q.info.Attributes = attrs
		return false, nil
	}
	f.queues[name] = &fakeQueue{
		info:     admin.QueueInfo{Name: name, ARN: "arn:gureum:sqs:local:" + name, Attributes: attrs, CreatedAt: time.Now()},
		inFlight: map[string]admin.Message{},
	}
	return true, nil
}

func (f *fakeNode) DeleteQueue(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, err := f.queue(name); err != nil {
		return err
	}
	delete(f.queues, name)
	return nil
}

func (f *fakeNode) SendMessages(_ context.Context, name string, req admin.SendRequest) (*admin.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	f.sends = append(f.sends, req)
	res := &admin.SendResponse{}
	for _, e := range req.Entries {
		if len(e.Body) > q.info.Attributes.MaxMessageBytes {
			res.Results = append(res.Results, admin.SendResult{ID: e.ID, Error: &admin.ErrorBody{
				Code: admin.CodeMessageTooLarge, Message: fmt.Sprintf("body of %d bytes is over the queue's limit", len(e.Body))}})
			continue
		}
		m := admin.Message{MessageID: f.next("m-"), Body: e.Body, Attributes: e.Attributes, SentAt: time.Now()}
		q.visible = append(q.visible, m)
		res.Results = append(res.Results, admin.SendResult{ID: e.ID, MessageID: m.MessageID})
	}
	return res, nil
}

func (f *fakeNode) ReceiveMessages(_ context.Context, name string, req admin.ReceiveRequest) (*admin.ReceiveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.receives = append(f.receives, req)
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	n := max(req.Max, 1)
	res := &admin.ReceiveResponse{}
	for len(q.visible) > 0 && len(res.Messages) < n {
		m := q.visible[0]
		q.visible = q.visible[1:]
		m.ReceiveCount++
		m.ReceiptHandle = fmt.Sprintf("rh-%s-%d", m.MessageID, m.ReceiveCount)
		q.inFlight[m.ReceiptHandle] = m
		res.Messages = append(res.Messages, m)
	}
	return res, nil
}

func (f *fakeNode) DeleteMessages(_ context.Context, name string, receipts []string) (*admin.DeleteMessagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	res := &admin.DeleteMessagesResponse{}
	for _, r := range receipts {
		if _, ok := q.inFlight[r]; !ok {
			res.Errors = append(res.Errors, &admin.ErrorBody{Code: admin.CodeReceiptInvalid, Message: admin.ErrReceiptInvalid.Error()})
			continue
		}
		delete(q.inFlight, r)
		res.Errors = append(res.Errors, nil)
	}
	return res, nil
}

func (f *fakeNode) ChangeVisibility(_ context.Context, name string, req admin.VisibilityRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return err
	}
	m, ok := q.inFlight[req.ReceiptHandle]
	if !ok {
		return fmt.Errorf("queue %s: %w", name, admin.ErrReceiptInvalid)
	}
	if req.Seconds == 0 {
		delete(q.inFlight, req.ReceiptHandle)
		q.visible = append(q.visible, m)
	}
	return nil
}

func (f *fakeNode) PurgeQueue(_ context.Context, name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return 0, err
	}
	n := len(q.visible) + len(q.inFlight)
	q.visible, q.inFlight = nil, map[string]admin.Message{}
	return n, nil
}

func (f *fakeNode) Topics(context.Context) ([]admin.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []admin.TopicInfo
	for _, t := range f.topics {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b admin.TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeNode) Topic(_ context.Context, name string) (*admin.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	t, ok := f.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	c := *t
	return &c, nil
}

func (f *fakeNode) PutTopic(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return false, f.fail
	}
	if _, ok := f.topics[name]; ok {
		return false, nil
	}
	f.topics[name] = &admin.TopicInfo{Name: name, ARN: "arn:gureum:sns:local:" + name, CreatedAt: time.Now(), Subscriptions: []admin.Subscription{}}
	return true, nil
}

func (f *fakeNode) DeleteTopic(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.topics[name]; !ok {
		return fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	delete(f.topics, name)
	return nil
}

func (f *fakeNode) Publish(_ context.Context, name string, req admin.PublishRequest) (*admin.PublishResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if _, ok := f.topics[name]; !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	if len(req.Message) > 256<<10 {
		return nil, fmt.Errorf("topic %s: %w: %d bytes", name, admin.ErrMessageTooLarge, len(req.Message))
	}
	f.published = append(f.published, req)
	return &admin.PublishResponse{MessageID: f.next("pub-")}, nil
}

func (f *fakeNode) Subscribe(_ context.Context, name string, spec admin.SubscriptionSpec) (*admin.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	t, ok := f.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	if spec.ID == "" {
		spec.ID = f.next("sub-")
	}
	sub := admin.Subscription{SubscriptionSpec: spec, Topic: name, ARN: t.ARN + ":" + spec.ID, CreatedAt: time.Now()}
	t.Subscriptions = append(t.Subscriptions, sub)
	return &sub, nil
}

func (f *fakeNode) Unsubscribe(_ context.Context, name, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	t, ok := f.topics[name]
	if !ok {
		return fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	i := slices.IndexFunc(t.Subscriptions, func(s admin.Subscription) bool { return s.ID == id })
	if i < 0 {
		return fmt.Errorf("subscription %s of topic %s: %w", id, name, registry.ErrNotFound)
	}
	t.Subscriptions = slices.Delete(t.Subscriptions, i, i+1)
	return nil
}

func (f *fakeNode) Schedules(context.Context) ([]admin.ScheduleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return f.schedules, nil
}

func (f *fakeNode) DeadLetterQueues(context.Context) ([]admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []admin.QueueInfo
	for _, q := range f.queues {
		if len(q.info.DeadLetterFor) > 0 {
			out = append(out, f.infoLocked(q))
		}
	}
	return out, nil
}

func (f *fakeNode) PeekMessages(_ context.Context, name string, n int) ([]admin.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.peekMax = n
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(q.visible[:min(n, len(q.visible))]), nil
}

// Replay sends messages whose source is a queue back to it; any other
// source fails.
func (f *fakeNode) Replay(_ context.Context, name string, req admin.ReplayRequest) (*admin.ReplayResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	q, err := f.queue(name)
	if err != nil {
		return nil, err
	}
	n := len(q.visible)
	if req.Max > 0 {
		n = min(n, req.Max)
	}
	res := &admin.ReplayResponse{}
	var keep []admin.Message
	for i, m := range q.visible {
		if i >= n {
			keep = append(keep, m)
			continue
		}
		var dst *fakeQueue
		if m.DeadLetter != nil {
			if src, err := deadletter.ParseSource(m.DeadLetter.Source); err == nil && src.Kind == deadletter.KindQueue {
				dst = f.queues[src.Name]
			}
		}
		if dst == nil {
			res.Failed++
			res.Errors = append(res.Errors, m.MessageID+": no queue to replay to")
			keep = append(keep, m)
			continue
		}
		m.DeadLetter, m.ReceiveCount = nil, 0
		dst.visible = append(dst.visible, m)
		res.Replayed++
	}
	q.visible = keep
	return res, nil
}

// addDeadLetters makes dlq a dead-letter queue of queue "orders" holding one
// message from it and one from a function.
func (f *fakeNode) addDeadLetters(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{"orders", "orders-dlq"} {
		if _, err := f.PutQueue(ctx, n, admin.QueueAttributes{}); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues["orders-dlq"]
	q.info.DeadLetterFor = []string{"queue:orders", "function:resize"}
	at := time.Now().Add(-time.Minute)
	q.visible = append(q.visible,
		admin.Message{MessageID: "d-1", Body: `{"order":1}`, SentAt: at,
			DeadLetter: &admin.DeadLetterInfo{Source: "queue:orders", Reason: "handler failed", Count: 5, At: at}},
		admin.Message{MessageID: "d-2", Body: `{"image":"a.png"}`, SentAt: at,
			DeadLetter: &admin.DeadLetterInfo{Source: "function:resize", Reason: "timeout", Count: 3, At: at}},
	)
}

// Package admintest holds a test double of the admin services, for tests of
// the admin API and of the CLI that talks to it.
//
// Events is an in-memory admin.EventService: enough queue, topic, schedule
// and dead-letter behaviour to check what a client sends and what the
// handler answers. It remembers the calls a test wants to inspect.
package admintest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
)

// Events is an in-memory admin.EventService. It also serves Invoke, echoing
// the payload; the other admin.Service methods go to the embedded Service,
// which is nil (and so panics) unless a test sets it.
type Events struct {
	admin.Service

	mu        sync.Mutex
	err       error // returned by every events method when set
	queues    map[string]*queue
	topics    map[string]*admin.TopicInfo
	schedules []admin.ScheduleInfo
	seq       int

	asyncCalls []AsyncCall
	published  []admin.PublishRequest
	sends      []admin.SendRequest
	receives   []admin.ReceiveRequest
	peekMax    int
}

// NewEvents returns an Events with no queues, topics or schedules.
func NewEvents() *Events {
	return &Events{queues: map[string]*queue{}, topics: map[string]*admin.TopicInfo{}}
}

// SetErr makes every events method return err (nil restores them).
func (f *Events) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// SetSchedules sets what Schedules answers.
func (f *Events) SetSchedules(ss []admin.ScheduleInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schedules = ss
}

// AsyncCalls returns the accepted InvokeAsync calls, in order.
func (f *Events) AsyncCalls() []AsyncCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asyncCalls)
}

// Published returns the accepted Publish requests, in order.
func (f *Events) Published() []admin.PublishRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published)
}

// Sends returns the SendMessages requests to existing queues, in order.
func (f *Events) Sends() []admin.SendRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sends)
}

// Receives returns every ReceiveMessages request, in order.
func (f *Events) Receives() []admin.ReceiveRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.receives)
}

// PeekMax returns the count the last PeekMessages call asked for.
func (f *Events) PeekMax() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peekMax
}

// AddDeadLetters creates queues "orders" and "orders-dlq" and makes the
// latter a dead-letter queue of "orders" holding one message from it (d-1)
// and one from function resize (d-2).
func (f *Events) AddDeadLetters(ctx context.Context) error {
	for _, n := range []string{"orders", "orders-dlq"} {
		if _, err := f.PutQueue(ctx, n, admin.QueueAttributes{}); err != nil {
			return err
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
	return nil
}

// AsyncCall is one InvokeAsync call as the fake received it.
type AsyncCall struct {
	Function, Qualifier, TraceParent string
	Payload                          string
}

type queue struct {
	info     admin.QueueInfo
	visible  []admin.Message
	inFlight map[string]admin.Message // by receipt handle
}

func (f *Events) nextLocked(prefix string) string {
	f.seq++
	return prefix + strconv.Itoa(f.seq)
}

func (f *Events) queueLocked(name string) (*queue, error) {
	q, ok := f.queues[name]
	if !ok {
		return nil, fmt.Errorf("queue %s: %w", name, admin.ErrQueueNotFound)
	}
	return q, nil
}

func (f *Events) Invoke(_ context.Context, req *invoke.Request) (*invoke.Result, error) {
	return &invoke.Result{RequestID: "sync-1", Version: "1", Payload: req.Payload}, nil
}

func (f *Events) InvokeAsync(_ context.Context, function, qualifier string, payload []byte, traceparent string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	if function == "missing" {
		return "", fmt.Errorf("%w: %s", invoke.ErrFunctionNotFound, function)
	}
	f.asyncCalls = append(f.asyncCalls, AsyncCall{function, qualifier, traceparent, string(payload)})
	return f.nextLocked("req-"), nil
}

func (f *Events) Queues(context.Context) ([]admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []admin.QueueInfo
	for _, q := range f.queues {
		out = append(out, f.infoLocked(q))
	}
	slices.SortFunc(out, func(a, b admin.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *Events) infoLocked(q *queue) admin.QueueInfo {
	info := q.info
	info.Visible, info.InFlight = len(q.visible), len(q.inFlight)
	return info
}

func (f *Events) Queue(_ context.Context, name string) (*admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	q, err := f.queueLocked(name)
	if err != nil {
		return nil, err
	}
	info := f.infoLocked(q)
	return &info, nil
}

func (f *Events) PutQueue(_ context.Context, name string, attrs admin.QueueAttributes) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
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
	f.queues[name] = &queue{
		info:     admin.QueueInfo{Name: name, ARN: "arn:gureum:sqs:local:" + name, Attributes: attrs, CreatedAt: time.Now()},
		inFlight: map[string]admin.Message{},
	}
	return true, nil
}

func (f *Events) DeleteQueue(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, err := f.queueLocked(name); err != nil {
		return err
	}
	delete(f.queues, name)
	return nil
}

func (f *Events) SendMessages(_ context.Context, name string, req admin.SendRequest) (*admin.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	q, err := f.queueLocked(name)
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
		m := admin.Message{MessageID: f.nextLocked("m-"), Body: e.Body, Attributes: e.Attributes, SentAt: time.Now()}
		q.visible = append(q.visible, m)
		res.Results = append(res.Results, admin.SendResult{ID: e.ID, MessageID: m.MessageID})
	}
	return res, nil
}

func (f *Events) ReceiveMessages(_ context.Context, name string, req admin.ReceiveRequest) (*admin.ReceiveResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.receives = append(f.receives, req)
	q, err := f.queueLocked(name)
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

func (f *Events) DeleteMessages(_ context.Context, name string, receipts []string) (*admin.DeleteMessagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	q, err := f.queueLocked(name)
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

func (f *Events) ChangeVisibility(_ context.Context, name string, req admin.VisibilityRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	q, err := f.queueLocked(name)
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

func (f *Events) PurgeQueue(_ context.Context, name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	q, err := f.queueLocked(name)
	if err != nil {
		return 0, err
	}
	n := len(q.visible) + len(q.inFlight)
	q.visible, q.inFlight = nil, map[string]admin.Message{}
	return n, nil
}

func (f *Events) Topics(context.Context) ([]admin.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []admin.TopicInfo
	for _, t := range f.topics {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b admin.TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *Events) Topic(_ context.Context, name string) (*admin.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	t, ok := f.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	c := *t
	return &c, nil
}

func (f *Events) PutTopic(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if _, ok := f.topics[name]; ok {
		return false, nil
	}
	f.topics[name] = &admin.TopicInfo{Name: name, ARN: "arn:gureum:sns:local:" + name, CreatedAt: time.Now(), Subscriptions: []admin.Subscription{}}
	return true, nil
}

func (f *Events) DeleteTopic(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.topics[name]; !ok {
		return fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	delete(f.topics, name)
	return nil
}

func (f *Events) Publish(_ context.Context, name string, req admin.PublishRequest) (*admin.PublishResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.topics[name]; !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	if len(req.Message) > 256<<10 {
		return nil, fmt.Errorf("topic %s: %w: %d bytes", name, admin.ErrMessageTooLarge, len(req.Message))
	}
	f.published = append(f.published, req)
	return &admin.PublishResponse{MessageID: f.nextLocked("pub-")}, nil
}

func (f *Events) Subscribe(_ context.Context, name string, spec admin.SubscriptionSpec) (*admin.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	t, ok := f.topics[name]
	if !ok {
		return nil, fmt.Errorf("topic %s: %w", name, admin.ErrTopicNotFound)
	}
	if spec.ID == "" {
		spec.ID = f.nextLocked("sub-")
	}
	sub := admin.Subscription{SubscriptionSpec: spec, Topic: name, ARN: t.ARN + ":" + spec.ID, CreatedAt: time.Now()}
	t.Subscriptions = append(t.Subscriptions, sub)
	return &sub, nil
}

func (f *Events) Unsubscribe(_ context.Context, name, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
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

func (f *Events) Schedules(context.Context) ([]admin.ScheduleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.schedules, nil
}

func (f *Events) DeadLetterQueues(context.Context) ([]admin.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []admin.QueueInfo
	for _, q := range f.queues {
		if len(q.info.DeadLetterFor) > 0 {
			out = append(out, f.infoLocked(q))
		}
	}
	return out, nil
}

func (f *Events) PeekMessages(_ context.Context, name string, n int) ([]admin.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.peekMax = n
	q, err := f.queueLocked(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(q.visible[:min(n, len(q.visible))]), nil
}

// Replay sends messages whose source is a queue back to it; any other
// source fails.
func (f *Events) Replay(_ context.Context, name string, req admin.ReplayRequest) (*admin.ReplayResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	q, err := f.queueLocked(name)
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
		var dst *queue
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

var _ admin.EventService = (*Events)(nil)

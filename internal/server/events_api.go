package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/events/async"
	"github.com/gureum/gureum/internal/events/bucket"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/events/queue"
	"github.com/gureum/gureum/internal/events/topic"
	"github.com/gureum/gureum/internal/invoke"
)

// The admin API's events endpoints (admin.EventService).

// eventErr maps the event packages' errors to the admin API's.
func eventErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrNotFound):
		return fmt.Errorf("%w: %w", admin.ErrQueueNotFound, err)
	case errors.Is(err, topic.ErrNotFound):
		return fmt.Errorf("%w: %w", admin.ErrTopicNotFound, err)
	case errors.Is(err, queue.ErrReceiptInvalid):
		return fmt.Errorf("%w: %w", admin.ErrReceiptInvalid, err)
	case errors.Is(err, queue.ErrTooLarge), errors.Is(err, topic.ErrTooLarge), errors.Is(err, async.ErrTooLarge):
		return fmt.Errorf("%w: %w", admin.ErrMessageTooLarge, err)
	case errors.Is(err, queue.ErrInvalid), errors.Is(err, topic.ErrInvalid), errors.Is(err, async.ErrInvalid),
		errors.Is(err, queue.ErrExists), errors.Is(err, queue.ErrEmptyBatch):
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	default:
		return err
	}
}

// InvokeAsync accepts an asynchronous invocation: the event is durable when
// the request id returns.
func (s *Server) InvokeAsync(ctx context.Context, function, qualifier string, payload []byte, traceparent string) (string, error) {
	if _, err := s.inv.Resolve(ctx, function, qualifier); err != nil {
		return "", err
	}
	id, err := s.events.async.Submit(ctx, async.Event{
		Function: function, Qualifier: qualifier, Payload: payload,
		Trigger: "async", TraceParent: traceparent,
	})
	if errors.Is(err, async.ErrTooLarge) {
		return "", fmt.Errorf("%w: %w", invoke.ErrPayloadTooLarge, err)
	}
	return id, eventErr(err)
}

func (s *Server) queueInfo(q *queue.Info, dlqFor map[string][]string) admin.QueueInfo {
	return admin.QueueInfo{
		Name: q.Name, App: q.App, ARN: q.ARN, Attributes: fromQueueAttrs(q.Attributes),
		CreatedAt: q.CreatedAt, Visible: q.Visible, InFlight: q.InFlight, Delayed: q.Delayed,
		OldestAge: q.OldestAge.Seconds(), DeadLetterFor: dlqFor[q.Name],
	}
}

// Queues lists every queue.
func (s *Server) Queues(ctx context.Context) ([]admin.QueueInfo, error) {
	qs, err := s.events.queues.List(ctx)
	if err != nil {
		return nil, err
	}
	dlqFor, err := s.deadLetterSources(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := make([]admin.QueueInfo, 0, len(qs))
	for i := range qs {
		out = append(out, s.queueInfo(&qs[i], dlqFor))
	}
	return out, nil
}

// Queue describes one queue.
func (s *Server) Queue(ctx context.Context, name string) (*admin.QueueInfo, error) {
	q, err := s.events.queues.Get(ctx, name)
	if err != nil {
		return nil, eventErr(err)
	}
	qs, err := s.events.queues.List(ctx)
	if err != nil {
		return nil, err
	}
	dlqFor, err := s.deadLetterSources(ctx, qs)
	if err != nil {
		return nil, err
	}
	info := s.queueInfo(q, dlqFor)
	return &info, nil
}

// PutQueue creates a queue or updates its attributes.
func (s *Server) PutQueue(ctx context.Context, name string, attrs admin.QueueAttributes) (bool, error) {
	created, err := s.events.queues.Ensure(ctx, name, "", toQueueAttrs(attrs))
	return created, eventErr(err)
}

// DeleteQueue removes a queue and its messages.
func (s *Server) DeleteQueue(ctx context.Context, name string) error {
	return eventErr(s.events.queues.Delete(ctx, name))
}

// SendMessages sends a batch of messages.
func (s *Server) SendMessages(ctx context.Context, queueName string, req admin.SendRequest) (*admin.SendResponse, error) {
	entries := make([]queue.SendEntry, len(req.Entries))
	for i, e := range req.Entries {
		entries[i] = queue.SendEntry{ID: e.ID, Body: e.Body, Attributes: toQueueMsgAttrs(e.Attributes), TraceParent: e.TraceParent}
		if e.DelaySeconds != nil {
			d := time.Duration(*e.DelaySeconds) * time.Second
			entries[i].Delay = &d
		}
	}
	res, err := s.events.queues.Send(ctx, queueName, entries)
	if err != nil {
		return nil, eventErr(err)
	}
	out := &admin.SendResponse{Results: make([]admin.SendResult, len(res))}
	for i, r := range res {
		out.Results[i] = admin.SendResult{ID: r.ID, MessageID: r.MessageID, MD5OfBody: r.MD5OfBody}
		if r.Err != nil {
			out.Results[i].Error = errorBody(eventErr(r.Err))
		}
	}
	return out, nil
}

// errorBody gives an error the admin API's code.
func errorBody(err error) *admin.ErrorBody {
	code := admin.CodeInternal
	switch {
	case errors.Is(err, admin.ErrMessageTooLarge):
		code = admin.CodeMessageTooLarge
	case errors.Is(err, admin.ErrInvalid):
		code = admin.CodeInvalidRequest
	case errors.Is(err, admin.ErrQueueNotFound):
		code = admin.CodeQueueNotFound
	case errors.Is(err, admin.ErrReceiptInvalid):
		code = admin.CodeReceiptInvalid
	}
	return &admin.ErrorBody{Code: code, Message: err.Error()}
}

// ReceiveMessages receives messages, long polling up to the request's wait.
func (s *Server) ReceiveMessages(ctx context.Context, queueName string, req admin.ReceiveRequest) (*admin.ReceiveResponse, error) {
	opt := queue.ReceiveOptions{Max: req.Max, Wait: time.Duration(req.WaitSeconds) * time.Second}
	if req.VisibilitySeconds != nil {
		d := time.Duration(*req.VisibilitySeconds) * time.Second
		opt.Visibility = &d
	}
	pctx, cancel := s.untilShutdown(ctx)
	defer cancel()
	msgs, err := s.events.queues.Receive(pctx, queueName, opt)
	if err != nil && !(pctx.Err() != nil && ctx.Err() == nil) {
		return nil, eventErr(err)
	}
	out := &admin.ReceiveResponse{Messages: make([]admin.Message, len(msgs))}
	for i := range msgs {
		out.Messages[i] = toAdminMessage(&msgs[i])
	}
	return out, nil
}

func toAdminMessage(m *queue.Message) admin.Message {
	am := admin.Message{
		MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, MD5OfBody: m.MD5OfBody,
		SentAt: m.SentAt, ReceiveCount: m.ReceiveCount, TraceParent: m.TraceParent,
		FirstReceivedAt: m.FirstReceivedAt,
	}
	if len(m.Attributes) > 0 {
		am.Attributes = make(map[string]admin.MessageAttribute, len(m.Attributes))
		for k, a := range m.Attributes {
			am.Attributes[k] = admin.MessageAttribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
		}
	}
	if d := m.DeadLetter; d != nil {
		am.DeadLetter = &admin.DeadLetterInfo{Source: d.Source.String(), Reason: d.Reason, Count: d.Count, At: d.At}
	}
	return am
}

func toQueueMsgAttrs(in map[string]admin.MessageAttribute) map[string]queue.MessageAttribute {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]queue.MessageAttribute, len(in))
	for k, a := range in {
		out[k] = queue.MessageAttribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
	}
	return out
}

// DeleteMessages deletes received messages by receipt handle.
func (s *Server) DeleteMessages(ctx context.Context, queueName string, receipts []string) (*admin.DeleteMessagesResponse, error) {
	if _, err := s.events.queues.Get(ctx, queueName); err != nil {
		return nil, eventErr(err)
	}
	out := &admin.DeleteMessagesResponse{Errors: make([]*admin.ErrorBody, len(receipts))}
	for i, r := range receipts {
		if err := s.events.queues.DeleteMessage(ctx, queueName, r); err != nil {
			out.Errors[i] = errorBody(eventErr(err))
		}
	}
	return out, nil
}

// ChangeVisibility changes how long a received message stays invisible.
func (s *Server) ChangeVisibility(ctx context.Context, queueName string, req admin.VisibilityRequest) error {
	if req.Seconds < 0 || req.Seconds > 43200 {
		return fmt.Errorf("%w: seconds %d: want 0 to 43200 (12 hours)", admin.ErrInvalid, req.Seconds)
	}
	return eventErr(s.events.queues.ChangeVisibility(ctx, queueName, req.ReceiptHandle, time.Duration(req.Seconds)*time.Second))
}

// PurgeQueue deletes every message of a queue.
func (s *Server) PurgeQueue(ctx context.Context, queueName string) (int, error) {
	n, err := s.events.queues.Purge(ctx, queueName)
	return n, eventErr(err)
}

func toAdminSubscription(sub *topic.Subscription) admin.Subscription {
	return admin.Subscription{
		SubscriptionSpec: admin.SubscriptionSpec{
			ID: sub.ID, Protocol: sub.Protocol, Endpoint: sub.Endpoint, FilterPolicy: sub.FilterPolicy,
			FilterScope: sub.FilterScope, RawDelivery: sub.RawDelivery, DLQ: sub.DLQ, MaxAttempts: sub.MaxAttempts,
		},
		Topic: sub.Topic, ARN: sub.ARN, Owner: sub.Owner, CreatedAt: sub.CreatedAt,
	}
}

func (s *Server) topicInfo(ctx context.Context, t *topic.Info) (admin.TopicInfo, error) {
	subs, err := s.events.topics.Subscriptions(ctx, t.Name)
	if err != nil {
		return admin.TopicInfo{}, eventErr(err)
	}
	info := admin.TopicInfo{Name: t.Name, App: t.App, ARN: t.ARN, CreatedAt: t.CreatedAt, Subscriptions: make([]admin.Subscription, len(subs))}
	for i := range subs {
		info.Subscriptions[i] = toAdminSubscription(&subs[i])
	}
	return info, nil
}

// Topics lists every topic with its subscriptions.
func (s *Server) Topics(ctx context.Context) ([]admin.TopicInfo, error) {
	ts, err := s.events.topics.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.TopicInfo, 0, len(ts))
	for i := range ts {
		info, err := s.topicInfo(ctx, &ts[i])
		if errors.Is(err, admin.ErrTopicNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Topic describes one topic.
func (s *Server) Topic(ctx context.Context, name string) (*admin.TopicInfo, error) {
	t, err := s.events.topics.Get(ctx, name)
	if err != nil {
		return nil, eventErr(err)
	}
	info, err := s.topicInfo(ctx, t)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// PutTopic creates a topic.
func (s *Server) PutTopic(ctx context.Context, name string) (bool, error) {
	created, err := s.events.topics.Ensure(ctx, name, "")
	return created, eventErr(err)
}

// DeleteTopic removes a topic and its subscriptions.
func (s *Server) DeleteTopic(ctx context.Context, name string) error {
	return eventErr(s.events.topics.Delete(ctx, name))
}

// Publish publishes a message to a topic.
func (s *Server) Publish(ctx context.Context, topicName string, req admin.PublishRequest) (*admin.PublishResponse, error) {
	id, err := s.events.topics.Publish(ctx, topicName, topic.PublishInput{
		Subject: req.Subject, Message: req.Message, TraceParent: req.TraceParent,
		Attributes: toTopicAttrs(toQueueMsgAttrs(req.Attributes)),
	})
	if err != nil {
		return nil, eventErr(err)
	}
	return &admin.PublishResponse{MessageID: id}, nil
}

// Subscribe adds a subscription to a topic.
func (s *Server) Subscribe(ctx context.Context, topicName string, spec admin.SubscriptionSpec) (*admin.Subscription, error) {
	if spec.Protocol == "queue" {
		if _, err := s.events.queues.Get(ctx, spec.Endpoint); err != nil {
			return nil, eventErr(err)
		}
	}
	if spec.Protocol == "function" {
		if _, err := s.inv.Resolve(ctx, spec.Endpoint, ""); err != nil {
			return nil, err
		}
	}
	sub, err := s.events.topics.Subscribe(ctx, fromSubscriptionSpec(topicName, spec))
	if err != nil {
		return nil, eventErr(err)
	}
	out := toAdminSubscription(sub)
	return &out, nil
}

// Unsubscribe removes a subscription.
func (s *Server) Unsubscribe(ctx context.Context, topicName, id string) error {
	return eventErr(s.events.topics.Unsubscribe(ctx, topicName, id))
}

// Schedules lists every schedule and its next fire time.
func (s *Server) Schedules(ctx context.Context) ([]admin.ScheduleInfo, error) {
	sts := s.events.sched.List()
	out := make([]admin.ScheduleInfo, 0, len(sts))
	for _, st := range sts {
		out = append(out, admin.ScheduleInfo{
			ID: st.ID, Function: st.Function, Expression: st.Expression, Timezone: st.Timezone,
			Next: st.Next, Last: st.Last, LastError: st.LastError,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// deadLetterSources maps each queue that receives dead letters to the
// sources sending them there.
func (s *Server) deadLetterSources(ctx context.Context, qs []queue.Info) (map[string][]string, error) {
	exists := make(map[string]bool, len(qs))
	for _, q := range qs {
		exists[q.Name] = true
	}
	out := make(map[string][]string)
	add := func(dlq string, src deadletter.Source) {
		if dlq != "" && exists[dlq] && !slices.Contains(out[dlq], src.String()) {
			out[dlq] = append(out[dlq], src.String())
		}
	}
	for _, q := range qs {
		add(q.Attributes.DLQ, deadletter.Source{Kind: deadletter.KindQueue, Name: q.Name})
	}
	latest, err := s.reg.LatestAll(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range latest {
		src := deadletter.Source{Kind: deadletter.KindFunction, Name: v.Config.Name}
		if a := v.Config.Async; a != nil && a.DLQ != "" {
			add(a.DLQ, src)
		} else {
			add(deadletter.AutoQueue(src), src)
		}
	}
	ts, err := s.events.topics.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		subs, err := s.events.topics.Subscriptions(ctx, t.Name)
		if err != nil {
			continue
		}
		for _, sub := range subs {
			src := deadletter.Source{Kind: deadletter.KindSubscription, Name: t.Name, Sub: sub.ID}
			if sub.DLQ != "" {
				add(sub.DLQ, src)
			} else {
				add(deadletter.AutoQueue(src), src)
			}
		}
	}
	if s.storage != nil {
		bs, err := s.storage.blobs.Buckets(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			ns, err := s.storage.events.Notifications(ctx, b.Name)
			if err != nil {
				continue
			}
			for _, n := range ns {
				add(bucket.DeadLetterQueue(b.Name), bucket.DeadLetterSource(b.Name, n.ID))
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out, nil
}

// DeadLetterQueues lists the queues that receive dead letters.
func (s *Server) DeadLetterQueues(ctx context.Context) ([]admin.QueueInfo, error) {
	all, err := s.Queues(ctx)
	if err != nil {
		return nil, err
	}
	var out []admin.QueueInfo
	for _, q := range all {
		if len(q.DeadLetterFor) > 0 {
			out = append(out, q)
		}
	}
	return out, nil
}

// PeekMessages reads a queue's messages without receiving them.
func (s *Server) PeekMessages(ctx context.Context, queueName string, max int) ([]admin.Message, error) {
	msgs, err := s.events.queues.Peek(ctx, queueName, max)
	if err != nil {
		return nil, eventErr(err)
	}
	out := make([]admin.Message, len(msgs))
	for i := range msgs {
		out[i] = toAdminMessage(&msgs[i])
		out[i].ReceiptHandle = ""
	}
	return out, nil
}

// Replay sends dead-lettered messages back to their sources. A message that
// cannot be replayed stays in the dead-letter queue.
func (s *Server) Replay(ctx context.Context, queueName string, req admin.ReplayRequest) (*admin.ReplayResponse, error) {
	max := req.Max
	if max <= 0 {
		q, err := s.events.queues.Get(ctx, queueName)
		if err != nil {
			return nil, eventErr(err)
		}
		max = q.Visible
	}
	out := &admin.ReplayResponse{}
	if max == 0 {
		return out, nil
	}
	ok, failed, err := s.events.queues.Drain(ctx, queueName, max, func(ctx context.Context, m queue.Message) error {
		err := s.replayOne(ctx, &m)
		if err != nil && len(out.Errors) < 5 {
			out.Errors = append(out.Errors, m.MessageID+": "+err.Error())
		}
		return err
	})
	out.Replayed, out.Failed = ok, failed
	return out, eventErr(err)
}

// replayOne sends one dead-lettered message back where it came from.
func (s *Server) replayOne(ctx context.Context, m *queue.Message) error {
	d := m.DeadLetter
	if d == nil {
		return errors.New("not a dead-lettered message (it has no source); receive it with 'gureum queue receive' instead")
	}
	attrs := m.Attributes
	switch d.Source.Kind {
	case deadletter.KindQueue:
		return s.sendOne(ctx, d.Source.Name, queue.SendEntry{Body: m.Body, Attributes: attrs, TraceParent: m.TraceParent})
	case deadletter.KindFunction:
		if !json.Valid([]byte(m.Body)) {
			return errors.New("the event is not valid JSON")
		}
		var qualifier string
		if a, ok := attrs["gureum.qualifier"]; ok {
			qualifier = a.StringValue
		}
		_, err := s.events.async.Submit(ctx, async.Event{
			Function: d.Source.Name, Qualifier: qualifier, Payload: json.RawMessage(m.Body),
			Trigger: "replay", TraceParent: m.TraceParent,
		})
		return err
	case deadletter.KindSubscription:
		if b, id, ok := bucket.ParseDeadLetterSource(d.Source); ok {
			return s.storage.events.Redeliver(ctx, b, id, []byte(m.Body), m.TraceParent)
		}
		msg, err := fromNotification(d.Source.Name, m.Body, m.TraceParent)
		if err != nil {
			return err
		}
		return s.events.topics.Redeliver(ctx, d.Source.Name, d.Source.Sub, msg)
	default:
		return fmt.Errorf("unknown source %s", d.Source)
	}
}

var _ admin.EventService = (*Server)(nil)

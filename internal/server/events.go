package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/events/async"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/events/queue"
	"github.com/gureum/gureum/internal/events/schedule"
	"github.com/gureum/gureum/internal/events/topic"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
)

// accountID is the account in every ARN gureum makes.
const accountID = "000000000000"

// eventSources are the node's event services and the queue triggers it runs.
type eventSources struct {
	queues *queue.Service
	topics *topic.Service
	async  *async.Service
	sched  *schedule.Service

	mu       sync.Mutex
	triggers map[string]*runningTrigger // function -> its queue trigger on this node
}

// runningTrigger is one queue event of a function, consumed on this node.
type runningTrigger struct {
	cfg registry.QueueTrigger
	t   *queue.Trigger
}

// startEvents opens the queue, topic, async and schedule services on the
// bus. It runs after the invoker exists and before the registry is first
// applied.
func (s *Server) startEvents(ctx context.Context) error {
	js := s.bus.JetStream()
	reps := s.bus.Replicas()
	ev := &eventSources{triggers: map[string]*runningTrigger{}}
	s.events = ev
	var err error
	if ev.queues, err = queue.Open(ctx, js, queue.Config{Replicas: reps, Region: s.cfg.Region, AccountID: accountID, Logger: s.log}); err != nil {
		return fmt.Errorf("open queues: %w", err)
	}
	if ev.topics, err = topic.Open(ctx, topic.Config{
		JetStream: js, Replicas: reps, Region: s.cfg.Region, AccountID: accountID,
		Deliverer: topicDeliverer{s}, RetryBase: s.cfg.EventRetryBase, Logger: s.log,
	}); err != nil {
		return fmt.Errorf("open topics: %w", err)
	}
	if ev.async, err = async.Open(ctx, async.Config{
		JetStream: js, Replicas: reps, Region: s.cfg.Region, AccountID: accountID,
		Invoker: s.inv, Destinations: asyncDestinations{s}, Settings: s.asyncSettings,
		RetryBase: s.cfg.AsyncRetryBase, Logger: s.log, OnRetry: s.metrics.AsyncRetry,
	}); err != nil {
		return fmt.Errorf("open async invocations: %w", err)
	}
	if ev.sched, err = schedule.New(schedule.Config{
		JetStream: js, Replicas: reps, Region: s.cfg.Region, AccountID: accountID,
		Fire: s.fireSchedule, Logger: s.log,
	}); err != nil {
		return fmt.Errorf("open schedules: %w", err)
	}
	if err := ev.topics.Start(ctx); err != nil {
		return fmt.Errorf("start topics: %w", err)
	}
	if err := ev.async.Start(ctx); err != nil {
		return fmt.Errorf("start async invocations: %w", err)
	}
	if err := ev.sched.Start(ctx); err != nil {
		return fmt.Errorf("start schedules: %w", err)
	}
	return nil
}

// stopEvents stops every event source: no new work is taken, work in flight
// finishes within ctx, and what is not finished is redelivered later.
func (s *Server) stopEvents(ctx context.Context) []error {
	ev := s.events
	if ev == nil {
		return nil
	}
	var errs []error
	if ev.sched != nil {
		if err := ev.sched.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("schedules: %w", err))
		}
	}
	ev.mu.Lock()
	triggers := ev.triggers
	ev.triggers = map[string]*runningTrigger{}
	ev.mu.Unlock()
	for fn, rt := range triggers {
		if err := rt.t.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("queue trigger of %s: %w", fn, err))
		}
	}
	if ev.topics != nil {
		if err := ev.topics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("topics: %w", err))
		}
	}
	if ev.async != nil {
		if err := ev.async.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("async invocations: %w", err))
		}
	}
	if ev.queues != nil {
		if err := ev.queues.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("queues: %w", err))
		}
	}
	return errs
}

// applyEvents makes the node's event consumers match the deployed
// functions: async workers, schedules and queue triggers. Called by refresh.
func (s *Server) applyEvents(ctx context.Context, latest []*registry.Version) {
	ev := s.events
	names := make([]string, 0, len(latest))
	var schedules []schedule.Schedule
	wanted := make(map[string]registry.QueueTrigger)
	for _, v := range latest {
		c := v.Config
		names = append(names, c.Name)
		for i, e := range c.Events {
			switch {
			case e.Schedule != nil:
				schedules = append(schedules, schedule.Schedule{
					ID:         c.Name + "/" + strconv.Itoa(i),
					Function:   c.Name,
					Expression: e.Schedule.Expression,
					Timezone:   e.Schedule.Timezone,
					Input:      e.Schedule.Input,
				})
			case e.Queue != nil:
				wanted[c.Name] = *e.Queue
			}
		}
	}
	ev.async.Sync(names)
	ev.sched.Set(schedules)

	ev.mu.Lock()
	defer ev.mu.Unlock()
	for fn, rt := range ev.triggers {
		if w, ok := wanted[fn]; ok && w == rt.cfg {
			delete(wanted, fn)
			continue
		}
		if err := rt.t.Stop(ctx); err != nil {
			s.log.Warn("stop queue trigger", "function", fn, "queue", rt.cfg.Name, "err", err)
		}
		delete(ev.triggers, fn)
	}
	for fn, qt := range wanted {
		t, err := ev.queues.Consume(context.WithoutCancel(ctx), qt.Name, queue.TriggerOptions{
			Batch: qt.Batch, Window: qt.Window.Std(), Concurrency: qt.Concurrency,
		}, s.queueHandler(fn, qt.Name))
		if err != nil {
			s.log.Warn("start queue trigger", "function", fn, "queue", qt.Name, "err", err)
			continue
		}
		ev.triggers[fn] = &runningTrigger{cfg: qt, t: t}
	}
}

// batchResponse is the partial batch failure answer of a queue-triggered
// function (events.SQSEventResponse).
type batchResponse struct {
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

// queueHandler invokes fn with a batch of messages as an events.SQSEvent.
func (s *Server) queueHandler(fn, queueName string) queue.Handler {
	return func(ctx context.Context, msgs []queue.Message) ([]string, error) {
		payload, err := json.Marshal(queue.SQSEvent(msgs, s.cfg.Region, accountID))
		if err != nil {
			return nil, err
		}
		var trace string
		for _, m := range msgs {
			if m.TraceParent != "" {
				trace = m.TraceParent
				break
			}
		}
		res, err := s.inv.Invoke(ctx, &invoke.Request{
			Function: fn, Payload: payload, Trigger: "queue", TraceID: trace,
			Source: "arn:aws:sqs:" + s.cfg.Region + ":" + accountID + ":" + queueName,
		})
		if err != nil {
			return nil, err
		}
		if res.FunctionError {
			return nil, fmt.Errorf("%w: %s", invoke.ErrFunctionFailed, errorMessage(res.Payload))
		}
		var br batchResponse
		if json.Unmarshal(res.Payload, &br) != nil || len(br.BatchItemFailures) == 0 {
			return nil, nil
		}
		failed := make([]string, 0, len(br.BatchItemFailures))
		for _, f := range br.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		return failed, nil
	}
}

// errorMessage reads the message of a Lambda error document.
func errorMessage(doc []byte) string {
	var e struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	if json.Unmarshal(doc, &e) != nil || e.Message == "" {
		return strings.TrimSpace(string(doc))
	}
	if e.Type != "" {
		return e.Type + ": " + e.Message
	}
	return e.Message
}

// asyncSettings reads a function's async settings from its $LATEST version.
func (s *Server) asyncSettings(ctx context.Context, fn string) (async.Settings, error) {
	v, err := s.reg.Get(ctx, fn, registry.LatestQualifier)
	if err != nil {
		return async.Settings{}, err
	}
	var st async.Settings
	a := v.Config.Async
	if a == nil {
		return st, nil
	}
	st.Retries = &a.Retries
	st.MaxEventAge = a.MaxEventAge.Std()
	st.DLQ = a.DLQ
	if a.OnSuccess != "" {
		d, err := async.ParseDestination(a.OnSuccess)
		if err != nil {
			return st, err
		}
		st.OnSuccess = &d
	}
	if a.OnFailure != "" {
		d, err := async.ParseDestination(a.OnFailure)
		if err != nil {
			return st, err
		}
		st.OnFailure = &d
	}
	return st, nil
}

// fireSchedule submits one tick of a schedule as an async invocation.
func (s *Server) fireSchedule(ctx context.Context, sc schedule.Schedule, tick time.Time, event []byte) error {
	_, err := s.events.async.Submit(ctx, async.Event{
		Function: sc.Function,
		Payload:  event,
		Trigger:  "schedule",
		Source:   sc.ID + "@" + tick.UTC().Format(time.RFC3339),
	})
	return err
}

// topicDeliverer hands topic messages to functions, queues and dead-letter
// queues.
type topicDeliverer struct{ s *Server }

func (d topicDeliverer) Function(ctx context.Context, function string, event []byte, traceparent string) error {
	_, err := d.s.events.async.Submit(ctx, async.Event{Function: function, Payload: event, Trigger: "topic", TraceParent: traceparent, Source: topicSource(event)})
	return err
}

func (d topicDeliverer) Queue(ctx context.Context, queueName, body string, attrs map[string]topic.Attribute, traceparent string) error {
	return d.s.sendOne(ctx, queueName, queue.SendEntry{Body: body, Attributes: fromTopicAttrs(attrs), TraceParent: traceparent})
}

func (d topicDeliverer) DeadLetter(ctx context.Context, dlq string, msg topic.Message, info deadletter.Info) error {
	body, err := json.Marshal(toNotification(d.s.cfg.Region, msg))
	if err != nil {
		return err
	}
	return d.s.deadLetter(ctx, dlq, queue.SendEntry{Body: string(body), TraceParent: msg.TraceParent, DeadLetter: &info})
}

// notification is how a topic message waits in a dead-letter queue: the SNS
// notification document, as an SNS subscription's dead-letter queue holds
// it. Replay reads it back, so the message keeps its id, subject,
// attributes and publish time.
type notification struct {
	Type              string                       `json:"Type"`
	MessageID         string                       `json:"MessageId"`
	TopicArn          string                       `json:"TopicArn"`
	Subject           string                       `json:"Subject,omitempty"`
	Message           string                       `json:"Message"`
	Timestamp         time.Time                    `json:"Timestamp"`
	MessageAttributes map[string]notificationValue `json:"MessageAttributes,omitempty"`
}

type notificationValue struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

func toNotification(region string, m topic.Message) notification {
	n := notification{
		Type: "Notification", MessageID: m.MessageID, Subject: m.Subject, Message: m.Body,
		Timestamp: m.Timestamp.UTC(), TopicArn: "arn:aws:sns:" + region + ":" + accountID + ":" + m.Topic,
	}
	if len(m.Attributes) > 0 {
		n.MessageAttributes = make(map[string]notificationValue, len(m.Attributes))
		for k, a := range m.Attributes {
			v := notificationValue{Type: a.DataType, Value: a.StringValue}
			if len(a.BinaryValue) > 0 {
				v.Value = base64.StdEncoding.EncodeToString(a.BinaryValue)
			}
			n.MessageAttributes[k] = v
		}
	}
	return n
}

// fromNotification reads a dead-lettered topic message back.
func fromNotification(topicName, body, traceparent string) (topic.Message, error) {
	var n notification
	if err := json.Unmarshal([]byte(body), &n); err != nil || n.Type != "Notification" {
		return topic.Message{}, errors.New("the message is not an SNS notification document")
	}
	m := topic.Message{Topic: topicName, MessageID: n.MessageID, Subject: n.Subject, Body: n.Message, Timestamp: n.Timestamp, TraceParent: traceparent}
	if len(n.MessageAttributes) > 0 {
		m.Attributes = make(map[string]topic.Attribute, len(n.MessageAttributes))
		for k, v := range n.MessageAttributes {
			a := topic.Attribute{DataType: v.Type, StringValue: v.Value}
			if strings.HasPrefix(v.Type, "Binary") {
				b, err := base64.StdEncoding.DecodeString(v.Value)
				if err != nil {
					return topic.Message{}, fmt.Errorf("attribute %s: %w", k, err)
				}
				a = topic.Attribute{DataType: v.Type, BinaryValue: b}
			}
			m.Attributes[k] = a
		}
	}
	return m, nil
}

// topicSource reads the topic ARN of an SNS event for the invocation record.
func topicSource(event []byte) string {
	var ev struct {
		Records []struct {
			SNS struct {
				TopicArn string `json:"TopicArn"`
			} `json:"Sns"`
		} `json:"Records"`
	}
	if json.Unmarshal(event, &ev) != nil || len(ev.Records) == 0 {
		return ""
	}
	return ev.Records[0].SNS.TopicArn
}

// asyncDestinations sends async invocation records to destinations and
// failed events to dead-letter queues.
type asyncDestinations struct{ s *Server }

func (d asyncDestinations) Send(ctx context.Context, dest async.Destination, record []byte, traceparent string) error {
	ev := d.s.events
	switch dest.Kind {
	case "queue":
		return d.s.sendOne(ctx, dest.Name, queue.SendEntry{Body: string(record), TraceParent: traceparent})
	case "topic":
		_, err := ev.topics.Publish(ctx, dest.Name, topic.PublishInput{Message: string(record), TraceParent: traceparent})
		return err
	case "function":
		_, err := ev.async.Submit(ctx, async.Event{Function: dest.Name, Payload: record, Trigger: "destination", TraceParent: traceparent})
		return err
	default:
		return fmt.Errorf("destination kind %q: want queue, topic or function", dest.Kind)
	}
}

func (d asyncDestinations) DeadLetter(ctx context.Context, dlq string, e async.Event, info deadletter.Info) error {
	var attrs map[string]queue.MessageAttribute
	if e.Qualifier != "" && e.Qualifier != registry.LatestQualifier {
		attrs = map[string]queue.MessageAttribute{"gureum.qualifier": {DataType: "String", StringValue: e.Qualifier}}
	}
	return d.s.deadLetter(ctx, dlq, queue.SendEntry{Body: string(e.Payload), Attributes: attrs, TraceParent: e.TraceParent, DeadLetter: &info})
}

// deadLetter sends a message to a dead-letter queue, creating the queue when
// it is the source's automatic one.
func (s *Server) deadLetter(ctx context.Context, dlq string, e queue.SendEntry) error {
	err := s.sendOne(ctx, dlq, e)
	if errors.Is(err, queue.ErrNotFound) && e.DeadLetter != nil && dlq == deadletter.AutoQueue(e.DeadLetter.Source) {
		if _, cerr := s.events.queues.Ensure(ctx, dlq, "", autoDLQAttributes()); cerr != nil {
			return fmt.Errorf("create dead-letter queue %s: %w", dlq, cerr)
		}
		err = s.sendOne(ctx, dlq, e)
	}
	return err
}

// autoDLQAttributes are the settings of an automatic dead-letter queue: the
// longest retention, so that failures wait for a person.
func autoDLQAttributes() queue.Attributes {
	a := queue.DefaultAttributes()
	a.Retention = 14 * 24 * time.Hour
	return a
}

// sendOne sends one message and returns its error.
func (s *Server) sendOne(ctx context.Context, queueName string, e queue.SendEntry) error {
	res, err := s.events.queues.Send(ctx, queueName, []queue.SendEntry{e})
	if err != nil {
		return err
	}
	if len(res) == 1 && res[0].Err != nil {
		return res[0].Err
	}
	return nil
}

func fromTopicAttrs(in map[string]topic.Attribute) map[string]queue.MessageAttribute {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]queue.MessageAttribute, len(in))
	for k, a := range in {
		out[k] = queue.MessageAttribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
	}
	return out
}

func toTopicAttrs(in map[string]queue.MessageAttribute) map[string]topic.Attribute {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]topic.Attribute, len(in))
	for k, a := range in {
		out[k] = topic.Attribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
	}
	return out
}

// deployEvents creates or updates the queues and topics a deploy declares
// and makes the deploy-managed topic subscriptions match it. Queues come
// first, so that dead-letter queues exist before the queues naming them.
func (s *Server) deployEvents(ctx context.Context, req admin.DeployRequest) error {
	ev := s.events
	queues := slices.Clone(req.Queues)
	// A dead-letter queue before the queues that name it.
	sort.SliceStable(queues, func(i, j int) bool { return queues[i].DLQ == "" && queues[j].DLQ != "" })
	for _, q := range queues {
		if _, err := ev.queues.Ensure(ctx, q.Name, req.App, toQueueAttrs(q.QueueAttributes)); err != nil {
			return fmt.Errorf("queue %s: %w", q.Name, err)
		}
	}
	for _, t := range req.Topics {
		if _, err := ev.topics.Ensure(ctx, t.Name, req.App); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	// Subscriptions the deploy manages: the app's declared ones and one per
	// topic event of each function.
	want := make(map[string]map[string]topic.Subscription) // topic -> id -> sub
	add := func(sub topic.Subscription) {
		if want[sub.Topic] == nil {
			want[sub.Topic] = map[string]topic.Subscription{}
		}
		want[sub.Topic][sub.ID] = sub
	}
	for _, t := range req.Topics {
		for _, sp := range t.Subscriptions {
			sub := fromSubscriptionSpec(t.Name, sp)
			sub.Owner = "app:" + req.App
			if sub.ID == "" {
				sub.ID = subscriptionID(sp.Protocol, sp.Endpoint)
			}
			add(sub)
		}
	}
	for _, fc := range req.Functions {
		for i, e := range fc.Events {
			if e.Topic == nil {
				continue
			}
			add(topic.Subscription{
				ID: "fn-" + fc.Name + "-" + strconv.Itoa(i), Topic: e.Topic.Name,
				Protocol: "function", Endpoint: fc.Name,
				FilterPolicy: e.Topic.Filter, FilterScope: e.Topic.FilterScope,
				Owner: "function:" + fc.Name,
			})
		}
	}
	owners := map[string]bool{"app:" + req.App: true}
	for _, fc := range req.Functions {
		owners["function:"+fc.Name] = true
	}
	return s.reconcileSubscriptions(ctx, owners, want)
}

// reconcileSubscriptions makes the subscriptions owned by owners exactly
// want: missing ones are created, changed ones updated, others removed.
func (s *Server) reconcileSubscriptions(ctx context.Context, owners map[string]bool, want map[string]map[string]topic.Subscription) error {
	ev := s.events
	topics, err := ev.topics.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range topics {
		subs, err := ev.topics.Subscriptions(ctx, t.Name)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			if !owners[sub.Owner] {
				continue
			}
			if _, ok := want[t.Name][sub.ID]; ok {
				continue
			}
			if err := ev.topics.Unsubscribe(ctx, t.Name, sub.ID); err != nil && !errors.Is(err, topic.ErrNotFound) {
				return fmt.Errorf("unsubscribe %s from %s: %w", sub.ID, t.Name, err)
			}
		}
	}
	for _, tn := range slices.Sorted(maps.Keys(want)) {
		for _, id := range slices.Sorted(maps.Keys(want[tn])) {
			if _, err := ev.topics.Subscribe(ctx, want[tn][id]); err != nil {
				return fmt.Errorf("subscribe %s to topic %s: %w", id, tn, err)
			}
		}
	}
	return nil
}

// subscriptionID names a deploy-managed subscription after its endpoint, so
// that a redeploy updates it in place.
func subscriptionID(protocol, endpoint string) string {
	sum := sha256.Sum256([]byte(protocol + "\x00" + endpoint))
	return protocol + "-" + hex.EncodeToString(sum[:6])
}

func fromSubscriptionSpec(topicName string, sp admin.SubscriptionSpec) topic.Subscription {
	return topic.Subscription{
		ID: sp.ID, Topic: topicName, Protocol: sp.Protocol, Endpoint: sp.Endpoint,
		FilterPolicy: sp.FilterPolicy, FilterScope: sp.FilterScope, RawDelivery: sp.RawDelivery,
		DLQ: sp.DLQ, MaxAttempts: sp.MaxAttempts,
	}
}

func toQueueAttrs(a admin.QueueAttributes) queue.Attributes {
	q := queue.DefaultAttributes()
	if a.Visibility != 0 {
		q.Visibility = a.Visibility.Std()
	}
	if a.Retention != 0 {
		q.Retention = a.Retention.Std()
	}
	q.Delay = a.Delay.Std()
	q.MaxReceives = a.MaxReceives
	q.DLQ = a.DLQ
	if a.MaxMessageBytes != 0 {
		q.MaxMessageBytes = a.MaxMessageBytes
	}
	return q
}

func fromQueueAttrs(q queue.Attributes) admin.QueueAttributes {
	return admin.QueueAttributes{
		Visibility: registry.Duration(q.Visibility), Retention: registry.Duration(q.Retention),
		Delay: registry.Duration(q.Delay), MaxReceives: q.MaxReceives, DLQ: q.DLQ,
		MaxMessageBytes: q.MaxMessageBytes,
	}
}

// checkEventRefs reports event settings of a deploy that name queues,
// topics or functions that neither the deploy nor the node has.
func (s *Server) checkEventRefs(ctx context.Context, req admin.DeployRequest, bad func(string, ...any)) error {
	ev := s.events
	queues := make(map[string]bool)
	topics := make(map[string]bool)
	functions := make(map[string]bool)
	for _, q := range req.Queues {
		if err := queue.ValidName(q.Name); err != nil {
			bad("queue %q: %v", q.Name, err)
		}
		if err := toQueueAttrs(q.QueueAttributes).Validate(); err != nil {
			bad("queue %s: %v", q.Name, err)
		}
		queues[q.Name] = true
	}
	for _, t := range req.Topics {
		if err := topic.ValidName(t.Name); err != nil {
			bad("topic %q: %v", t.Name, err)
		}
		topics[t.Name] = true
	}
	qs, err := ev.queues.List(ctx)
	if err != nil {
		return err
	}
	for _, q := range qs {
		queues[q.Name] = true
	}
	ts, err := ev.topics.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		topics[t.Name] = true
	}
	latest, err := s.reg.LatestAll(ctx)
	if err != nil {
		return err
	}
	for _, v := range latest {
		functions[v.Config.Name] = true
	}
	for _, fc := range req.Functions {
		functions[fc.Name] = true
	}
	hint := func(kind, name string) string {
		return fmt.Sprintf("%s %s does not exist; declare it under %ss: in gureum.yaml or create it with 'gureum %s create %s'", kind, name, kind, kind, name)
	}
	for _, q := range req.Queues {
		if q.DLQ != "" && !queues[q.DLQ] {
			bad("queue %s: dead-letter %s", q.Name, hint("queue", q.DLQ))
		}
	}
	for _, t := range req.Topics {
		for _, sp := range t.Subscriptions {
			if sp.Protocol == "queue" && !queues[sp.Endpoint] {
				bad("topic %s: subscription: %s", t.Name, hint("queue", sp.Endpoint))
			}
			if sp.DLQ != "" && !queues[sp.DLQ] {
				bad("topic %s: subscription dead-letter %s", t.Name, hint("queue", sp.DLQ))
			}
			if len(sp.FilterPolicy) > 0 {
				if _, err := topic.ParseFilterPolicy(sp.FilterPolicy); err != nil {
					bad("topic %s: %v", t.Name, err)
				}
			}
		}
	}
	checkDest := func(fn, what, ref string) {
		if ref == "" {
			return
		}
		d, err := async.ParseDestination(ref)
		if err != nil {
			bad("function %s: %s: %v", fn, what, err)
			return
		}
		ok := map[string]map[string]bool{"queue": queues, "topic": topics, "function": functions}[d.Kind][d.Name]
		if !ok {
			bad("function %s: %s: %s", fn, what, hint(d.Kind, d.Name))
		}
	}
	consumer := make(map[string]string)
	for _, v := range latest {
		if v.Config.App == req.App {
			continue
		}
		for _, e := range v.Config.Events {
			if e.Queue != nil {
				consumer[e.Queue.Name] = v.Config.Name
			}
		}
	}
	for _, fc := range req.Functions {
		if a := fc.Async; a != nil {
			if a.Retries < 0 || a.Retries > 2 {
				bad("function %s: async retries %d: want 0, 1 or 2", fc.Name, a.Retries)
			}
			checkDest(fc.Name, "async onSuccess", a.OnSuccess)
			checkDest(fc.Name, "async onFailure", a.OnFailure)
			if a.DLQ != "" && !queues[a.DLQ] {
				bad("function %s: async dlq: %s", fc.Name, hint("queue", a.DLQ))
			}
		}
		for _, e := range fc.Events {
			switch {
			case e.Queue != nil:
				if !queues[e.Queue.Name] {
					bad("function %s: queue event: %s", fc.Name, hint("queue", e.Queue.Name))
				}
				if other, ok := consumer[e.Queue.Name]; ok && other != fc.Name {
					bad("function %s: queue %s is already the event of function %s; a queue feeds one function (use a topic to fan out)", fc.Name, e.Queue.Name, other)
				}
				consumer[e.Queue.Name] = fc.Name
			case e.Topic != nil:
				if !topics[e.Topic.Name] {
					bad("function %s: topic event: %s", fc.Name, hint("topic", e.Topic.Name))
				}
				if len(e.Topic.Filter) > 0 {
					if _, err := topic.ParseFilterPolicy(e.Topic.Filter); err != nil {
						bad("function %s: topic event: %v", fc.Name, err)
					}
				}
			case e.Schedule != nil:
				if _, err := schedule.Parse(e.Schedule.Expression, e.Schedule.Timezone); err != nil {
					bad("function %s: schedule: %v", fc.Name, err)
				}
			}
		}
	}
	return s.checkStorageRefs(ctx, req, queues, topics, bad)
}

// removeFunctionEvents drops what a removed function owned: its topic
// subscriptions and bucket notifications. Its queue trigger stops with the
// next refresh.
func (s *Server) removeFunctionEvents(ctx context.Context, fn string) error {
	if err := s.reconcileSubscriptions(ctx, map[string]bool{"function:" + fn: true}, nil); err != nil {
		return err
	}
	return s.removeFunctionStorage(ctx, fn)
}

package admin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gureum/gureum/internal/registry"
)

// Error codes of the events endpoints, besides the general ones.
const (
	CodeQueueNotFound   = "QueueNotFound"
	CodeTopicNotFound   = "TopicNotFound"
	CodeReceiptInvalid  = "ReceiptHandleInvalid"
	CodeAccessDenied    = "AccessDenied"
	CodeMessageTooLarge = "MessageTooLarge"
)

// Errors an EventService wraps so that the handler answers with the right
// status and code; match with errors.Is.
var (
	ErrQueueNotFound   = errors.New("queue not found")                            // 404 QueueNotFound
	ErrTopicNotFound   = errors.New("topic not found")                            // 404 TopicNotFound
	ErrReceiptInvalid  = errors.New("receipt handle is not valid for this queue") // 400 ReceiptHandleInvalid
	ErrMessageTooLarge = errors.New("message too large")                          // 413 MessageTooLarge
)

// Header of POST /functions/{name}/invocations selecting the invocation
// type: "RequestResponse" (default) or "Event" (asynchronous: 202 and the
// request id once the event is durable).
const HeaderInvocationType = "X-Gureum-Invocation-Type"

// AsyncAccepted is the body of a 202 answer to an asynchronous invocation.
type AsyncAccepted struct {
	RequestID string `json:"requestId"`
}

// QueueAttributes are a queue's settings. On create, zero fields take the
// defaults (visibility 30s, retention 96h, delay 0, max message 256 KiB).
type QueueAttributes struct {
	Visibility      registry.Duration `json:"visibility,omitempty"`
	Retention       registry.Duration `json:"retention,omitempty"`
	Delay           registry.Duration `json:"delay,omitempty"`
	MaxReceives     int               `json:"maxReceives,omitempty"`
	DLQ             string            `json:"dlq,omitempty"`
	MaxMessageBytes int               `json:"maxMessageBytes,omitempty"`
}

// QueueSpec declares a queue in a deploy.
type QueueSpec struct {
	Name string `json:"name"`
	QueueAttributes
}

// QueueInfo describes a queue and its messages.
type QueueInfo struct {
	Name       string          `json:"name"`
	App        string          `json:"app,omitempty"`
	ARN        string          `json:"arn"`
	Attributes QueueAttributes `json:"attributes"`
	CreatedAt  time.Time       `json:"createdAt"`
	Visible    int             `json:"visible"`
	InFlight   int             `json:"inFlight"`
	Delayed    int             `json:"delayed"`
	OldestAge  float64         `json:"oldestAgeSeconds"` // age of the oldest message
	// DeadLetterFor lists the sources whose failures land in this queue
	// ("queue:orders", "function:resize", ...), when it is a dead-letter queue.
	DeadLetterFor []string `json:"deadLetterFor,omitempty"`
}

// MessageAttribute is an SQS/SNS message attribute.
type MessageAttribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

// SendRequest is POST /queues/{name}/messages: 1 to 10 entries.
type SendRequest struct {
	Entries []SendEntry `json:"entries"`
}

// SendEntry is one message to send.
type SendEntry struct {
	ID           string                      `json:"id,omitempty"` // the caller's id for this entry, echoed in the result
	Body         string                      `json:"body"`
	DelaySeconds *int                        `json:"delaySeconds,omitempty"` // nil = the queue's delay
	Attributes   map[string]MessageAttribute `json:"attributes,omitempty"`
	TraceParent  string                      `json:"traceparent,omitempty"`
}

// SendResponse has one result per entry, in order.
type SendResponse struct {
	Results []SendResult `json:"results"`
}

// SendResult is one entry's outcome: MessageID, or Error.
type SendResult struct {
	ID        string     `json:"id,omitempty"`
	MessageID string     `json:"messageId,omitempty"`
	MD5OfBody string     `json:"md5OfBody,omitempty"`
	Error     *ErrorBody `json:"error,omitempty"`
}

// ReceiveRequest is POST /queues/{name}/receive.
type ReceiveRequest struct {
	Max               int  `json:"max,omitempty"`               // 1..10, default 1
	WaitSeconds       int  `json:"waitSeconds,omitempty"`       // 0..20 long polling
	VisibilitySeconds *int `json:"visibilitySeconds,omitempty"` // nil = the queue's
}

// Message is a received (or peeked) queue message.
type Message struct {
	MessageID       string                      `json:"messageId"`
	ReceiptHandle   string                      `json:"receiptHandle,omitempty"`
	Body            string                      `json:"body"`
	MD5OfBody       string                      `json:"md5OfBody"`
	Attributes      map[string]MessageAttribute `json:"attributes,omitempty"`
	SentAt          time.Time                   `json:"sentAt"`
	ReceiveCount    int                         `json:"receiveCount"`
	TraceParent     string                      `json:"traceparent,omitempty"`
	DeadLetter      *DeadLetterInfo             `json:"deadLetter,omitempty"`
	FirstReceivedAt time.Time                   `json:"firstReceivedAt,omitzero"`
}

// DeadLetterInfo says where a dead-lettered message came from and why.
type DeadLetterInfo struct {
	Source string    `json:"source"` // queue:NAME | function:NAME | subscription:TOPIC/ID
	Reason string    `json:"reason"`
	Count  int       `json:"count"`
	At     time.Time `json:"at"`
}

// ReceiveResponse holds 0 to Max messages.
type ReceiveResponse struct {
	Messages []Message `json:"messages"`
}

// DeleteMessagesRequest is POST /queues/{name}/delete.
type DeleteMessagesRequest struct {
	ReceiptHandles []string `json:"receiptHandles"`
}

// DeleteMessagesResponse has one error (or null) per receipt handle.
type DeleteMessagesResponse struct {
	Errors []*ErrorBody `json:"errors"`
}

// VisibilityRequest is POST /queues/{name}/visibility.
type VisibilityRequest struct {
	ReceiptHandle string `json:"receiptHandle"`
	Seconds       int    `json:"seconds"` // 0..43200
}

// CountResponse answers purge and similar calls.
type CountResponse struct {
	Count int `json:"count"`
}

// TopicSpec declares a topic in a deploy, with its non-function
// subscriptions (function subscriptions come from function events).
type TopicSpec struct {
	Name          string             `json:"name"`
	Subscriptions []SubscriptionSpec `json:"subscriptions,omitempty"`
}

// SubscriptionSpec creates a subscription.
type SubscriptionSpec struct {
	ID           string          `json:"id,omitempty"` // "" = generated
	Protocol     string          `json:"protocol"`     // function | queue | http | https
	Endpoint     string          `json:"endpoint"`     // function name, queue name or URL
	FilterPolicy json.RawMessage `json:"filterPolicy,omitempty"`
	FilterScope  string          `json:"filterScope,omitempty"` // attributes (default) | body
	RawDelivery  bool            `json:"rawDelivery,omitempty"`
	DLQ          string          `json:"dlq,omitempty"`
	MaxAttempts  int             `json:"maxAttempts,omitempty"`
}

// Subscription is a topic subscription.
type Subscription struct {
	SubscriptionSpec
	Topic     string    `json:"topic"`
	ARN       string    `json:"arn"`
	Owner     string    `json:"owner,omitempty"` // "function:NAME" or "app:NAME" when a deploy manages it
	CreatedAt time.Time `json:"createdAt"`
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name          string         `json:"name"`
	App           string         `json:"app,omitempty"`
	ARN           string         `json:"arn"`
	CreatedAt     time.Time      `json:"createdAt"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// PublishRequest is POST /topics/{name}/messages.
type PublishRequest struct {
	Subject     string                      `json:"subject,omitempty"`
	Message     string                      `json:"message"`
	Attributes  map[string]MessageAttribute `json:"attributes,omitempty"`
	TraceParent string                      `json:"traceparent,omitempty"`
}

// PublishResponse names the published message.
type PublishResponse struct {
	MessageID string `json:"messageId"`
}

// ScheduleInfo is one schedule of a function and its next fire time.
type ScheduleInfo struct {
	ID         string    `json:"id"`
	Function   string    `json:"function"`
	Expression string    `json:"expression"`
	Timezone   string    `json:"timezone,omitempty"`
	Next       time.Time `json:"next,omitzero"`
	Last       time.Time `json:"last,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
}

// ReplayRequest is POST /dlqs/{queue}/replay.
type ReplayRequest struct {
	Max int `json:"max,omitempty"` // 0 = every message present when replay starts
}

// ReplayResponse counts a replay's messages.
type ReplayResponse struct {
	Replayed int      `json:"replayed"`
	Failed   int      `json:"failed"`
	Errors   []string `json:"errors,omitempty"` // the first few failures
}

// EventService is what the events endpoints need from the node.
type EventService interface {
	InvokeAsync(ctx context.Context, function, qualifier string, payload []byte, traceparent string) (requestID string, err error)

	Queues(ctx context.Context) ([]QueueInfo, error)
	Queue(ctx context.Context, name string) (*QueueInfo, error)
	PutQueue(ctx context.Context, name string, attrs QueueAttributes) (created bool, err error)
	DeleteQueue(ctx context.Context, name string) error
	SendMessages(ctx context.Context, queue string, req SendRequest) (*SendResponse, error)
	ReceiveMessages(ctx context.Context, queue string, req ReceiveRequest) (*ReceiveResponse, error)
	DeleteMessages(ctx context.Context, queue string, receipts []string) (*DeleteMessagesResponse, error)
	ChangeVisibility(ctx context.Context, queue string, req VisibilityRequest) error
	PurgeQueue(ctx context.Context, queue string) (int, error)

	Topics(ctx context.Context) ([]TopicInfo, error)
	Topic(ctx context.Context, name string) (*TopicInfo, error)
	PutTopic(ctx context.Context, name string) (created bool, err error)
	DeleteTopic(ctx context.Context, name string) error
	Publish(ctx context.Context, topic string, req PublishRequest) (*PublishResponse, error)
	Subscribe(ctx context.Context, topic string, spec SubscriptionSpec) (*Subscription, error)
	Unsubscribe(ctx context.Context, topic, id string) error

	Schedules(ctx context.Context) ([]ScheduleInfo, error)

	DeadLetterQueues(ctx context.Context) ([]QueueInfo, error)
	PeekMessages(ctx context.Context, queue string, max int) ([]Message, error)
	Replay(ctx context.Context, queue string, req ReplayRequest) (*ReplayResponse, error)
}

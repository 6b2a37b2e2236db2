package blob

import (
	"context"
	"time"
)

// Event names, as S3 writes them in an event record's eventName (without
// the "s3:" prefix of notification configurations).
const (
	EventPut      = "ObjectCreated:Put"
	EventCopy     = "ObjectCreated:Copy"
	EventComplete = "ObjectCreated:CompleteMultipartUpload"
	EventDelete   = "ObjectRemoved:Delete"
)

// Event is one change to a bucket's objects that bucket notifications may
// deliver.
type Event struct {
	Name      string    // EventPut, EventCopy, EventComplete or EventDelete
	Bucket    string    //
	Key       string    // the object's key, unescaped
	Size      int64     // bytes; 0 for removals
	ETag      string    // without quotes; "" for removals
	Sequencer string    // orders the events of one key: later events compare greater as strings of equal length
	Time      time.Time // when the change was made
	Principal string    // who made it: an access key id, "function:NAME" or "admin"
	SourceIP  string    // the client's address, when known
	RequestID string    // the request that made the change
	// TraceParent is the W3C trace context of the request that made the
	// change, carried on to what the event triggers; may be empty.
	TraceParent string
}

// EventSink records events durably. The store calls it after a change is
// stored and before it reports the change as done, so that a change a client
// saw succeed always has its event; an error from the sink fails the
// operation (the object stays written and a retry records it again).
type EventSink interface {
	ObjectEvent(ctx context.Context, ev Event) error
}

package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/registry"
)

// Target kinds, the part of Notification.Target before the colon.
const (
	TargetFunction = "function" // NAME or NAME:QUALIFIER; an asynchronous invocation
	TargetQueue    = "queue"
	TargetTopic    = "topic"
)

// Limits of names.
const (
	MaxBucketLen = 255 // bytes of a bucket name
	MaxIDLen     = 128 // bytes of a notification id
	MaxOwnerLen  = 256 // bytes of an owner
	maxNameLen   = 80  // a queue, topic or function name
)

// Notification sends a bucket's matching object events to one target.
type Notification struct {
	// ID is unique within the bucket: 1 to MaxIDLen letters, digits, '-'
	// or '_'. It becomes the records' s3.configurationId.
	ID     string `json:"id"`
	Bucket string `json:"bucket"`
	// Target is "function:NAME" (optionally NAME:QUALIFIER), "queue:NAME"
	// or "topic:NAME".
	Target string `json:"target"`
	// On holds registry.BucketCreated and/or registry.BucketRemoved.
	On []string `json:"on"`
	// Prefix and Suffix select keys (unescaped); empty matches any.
	Prefix string `json:"prefix,omitempty"`
	Suffix string `json:"suffix,omitempty"`
	// Owner is who declared it, "function:NAME" or "app:NAME"; deploys
	// reconcile the notifications of one owner (see SetNotifications).
	Owner string `json:"owner,omitempty"`
}

// Matches reports whether the notification takes an event: the kind of
// eventName is in On and the (unescaped) key has Prefix and Suffix.
func (n *Notification) Matches(eventName, key string) bool {
	kind := EventKind(eventName)
	return kind != "" && slices.Contains(n.On, kind) &&
		strings.HasPrefix(key, n.Prefix) && strings.HasSuffix(key, n.Suffix)
}

// EventKind maps an S3 event name to registry.BucketCreated or
// registry.BucketRemoved; "" for any other.
func EventKind(name string) string {
	switch {
	case strings.HasPrefix(name, "ObjectCreated:"):
		return registry.BucketCreated
	case strings.HasPrefix(name, "ObjectRemoved:"):
		return registry.BucketRemoved
	}
	return ""
}

// ParseTarget splits a notification target into its kind (TargetFunction,
// TargetQueue or TargetTopic) and name.
func ParseTarget(target string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(target, ":")
	if !ok {
		return "", "", invalidf("target %q: want function:NAME, queue:NAME or topic:NAME", target)
	}
	switch kind {
	case TargetQueue, TargetTopic:
		if !validName(name) {
			return "", "", invalidf("target %q: a %s name is 1 to %d letters, digits, '-' or '_'", target, kind, maxNameLen)
		}
	case TargetFunction:
		fn, qualifier, hasQ := strings.Cut(name, ":")
		if !validName(fn) || hasQ && !validQualifier(qualifier) {
			return "", "", invalidf("target %q: want function:NAME or function:NAME:QUALIFIER", target)
		}
	default:
		return "", "", invalidf("target %q: want function:NAME, queue:NAME or topic:NAME", target)
	}
	return kind, name, nil
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return false
		}
	}
	return true
}

func validQualifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) && s[i] != '$' {
			return false
		}
	}
	return true
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// validBucket accepts 1 to MaxBucketLen bytes of UTF-8 without '/' or
// control characters; the blob store applies the stricter S3 rules.
func validBucket(b string) error {
	if b == "" || len(b) > MaxBucketLen || !utf8.ValidString(b) || strings.ContainsFunc(b, func(r rune) bool {
		return r == '/' || r < 0x20 || r == 0x7f
	}) {
		return invalidf("bucket name %q", b)
	}
	return nil
}

func validID(id string) error {
	if id == "" || len(id) > MaxIDLen || strings.IndexFunc(id, func(r rune) bool { return r > 0x7f || !nameByte(byte(r)) }) >= 0 {
		return invalidf("notification id %q: want 1 to %d letters, digits, '-' or '_'", id, MaxIDLen)
	}
	return nil
}

// normalize validates n and puts On in a canonical order.
func normalize(n *Notification) error {
	if err := validBucket(n.Bucket); err != nil {
		return err
	}
	if err := validID(n.ID); err != nil {
		return err
	}
	if _, _, err := ParseTarget(n.Target); err != nil {
		return fmt.Errorf("notification %s: %w", n.ID, err)
	}
	if len(n.On) == 0 {
		return invalidf("notification %s: on: want %s and/or %s", n.ID, registry.BucketCreated, registry.BucketRemoved)
	}
	var on []string
	for _, k := range []string{registry.BucketCreated, registry.BucketRemoved} {
		if slices.Contains(n.On, k) {
			on = append(on, k)
		}
	}
	for _, k := range n.On {
		if k != registry.BucketCreated && k != registry.BucketRemoved {
			return invalidf("notification %s: on %q: want %s or %s", n.ID, k, registry.BucketCreated, registry.BucketRemoved)
		}
	}
	n.On = on
	if len(n.Prefix) > 1024 || len(n.Suffix) > 1024 {
		return invalidf("notification %s: prefix and suffix are at most 1024 bytes", n.ID)
	}
	if len(n.Owner) > MaxOwnerLen {
		return invalidf("notification %s: owner is at most %d bytes", n.ID, MaxOwnerLen)
	}
	return nil
}

// token encodes a bucket name as one subject token (and KV key part):
// letters, digits and '-' stay, every other byte becomes '_' and two hex
// digits. Distinct names give distinct tokens.
func token(bucket string) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(bucket))
	for i := 0; i < len(bucket); i++ {
		c := bucket[i]
		if c != '_' && nameByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

func noteKey(bucket, id string) string { return notePrefix + token(bucket) + "." + id }

// consumerName names a notification's durable consumer: a hash, as
// consumer names are short and a bucket name may hold any byte.
func consumerName(bucket, id string) string {
	h := sha256.Sum256([]byte(bucket + "/" + id))
	return "bn-" + hex.EncodeToString(h[:16])
}

func (s *Service) consumerConfig(bucket, id string) jetstream.ConsumerConfig {
	// An event waits in a node's buffer for at most one attempt's time
	// before its own attempt starts; give it twice that and more before
	// the server hands it to another node.
	ackWait := max(4*s.cfg.AttemptTimeout, 30*time.Second)
	return jetstream.ConsumerConfig{
		Durable:        consumerName(bucket, id),
		Description:    "gureum bucket notification " + bucket + "/" + id,
		FilterSubjects: []string{bucketSubject(bucket), replaySubject(bucket, id)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1, // the runner counts attempts and dead-letters
		MaxAckPending:  maxAckPending,
	}
}

// SetNotifications makes the notifications of owner on bucket exactly want:
// it adds and updates those in want and removes the owner's others. The
// notifications of other owners stay; an id one of them uses is
// ErrConflict. A Notification's Bucket and Owner may be left empty (they
// are taken from the arguments). Events stored after it returns reach the
// new notifications, whether or not a node delivers yet; a new
// notification gets no earlier event.
func (s *Service) SetNotifications(ctx context.Context, bucket, owner string, want []Notification) error {
	if err := validBucket(bucket); err != nil {
		return fmt.Errorf("set notifications: %w", err)
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return fmt.Errorf("set notifications of %s: %w", bucket, err)
	}
	wantIDs := make(map[string]bool, len(want))
	norm := make([]Notification, len(want))
	for i, n := range want {
		n.On = slices.Clone(n.On)
		if n.Bucket == "" {
			n.Bucket = bucket
		}
		if n.Owner == "" {
			n.Owner = owner
		}
		if n.Bucket != bucket || n.Owner != owner {
			return fmt.Errorf("set notifications of %s: %w", bucket,
				invalidf("notification %s is for %s, owned by %q; want %s, %q", n.ID, n.Bucket, n.Owner, bucket, owner))
		}
		if err := normalize(&n); err != nil {
			return fmt.Errorf("set notifications of %s: %w", bucket, err)
		}
		if wantIDs[n.ID] {
			return fmt.Errorf("set notifications of %s: %w", bucket, invalidf("notification id %s given twice", n.ID))
		}
		wantIDs[n.ID] = true
		norm[i] = n
	}
	have, err := s.list(ctx, kv, bucket)
	if err != nil {
		return fmt.Errorf("set notifications of %s: %w", bucket, err)
	}
	current := make(map[string]Notification, len(have))
	for _, n := range have {
		current[n.ID] = n
		if wantIDs[n.ID] && n.Owner != owner {
			return fmt.Errorf("set notifications of %s: %s (owned by %q): %w", bucket, n.ID, n.Owner, ErrConflict)
		}
	}
	for _, n := range have {
		if n.Owner == owner && !wantIDs[n.ID] {
			if err := s.remove(ctx, kv, n); err != nil {
				return fmt.Errorf("set notifications of %s: %w", bucket, err)
			}
		}
	}
	for _, n := range norm {
		// The consumer before the record: a node that sees the record
		// finds the consumer, and events are kept from now on. It is made
		// sure of even for an unchanged notification, which repairs one
		// that went missing.
		if _, err := s.js.CreateOrUpdateConsumer(ctx, StreamName, s.consumerConfig(bucket, n.ID)); err != nil {
			return fmt.Errorf("set notifications of %s: %s: consumer: %w", bucket, n.ID, err)
		}
		if old, ok := current[n.ID]; ok && equal(old, n) {
			continue
		}
		if _, err := kv.Put(ctx, noteKey(bucket, n.ID), mustJSON(n)); err != nil {
			return fmt.Errorf("set notifications of %s: %s: %w", bucket, n.ID, err)
		}
	}
	return nil
}

func equal(a, b Notification) bool {
	return a.ID == b.ID && a.Bucket == b.Bucket && a.Target == b.Target && slices.Equal(a.On, b.On) &&
		a.Prefix == b.Prefix && a.Suffix == b.Suffix && a.Owner == b.Owner
}

// remove deletes a notification: the record first (every node stops
// delivering), then its consumer and with it the events it had not taken.
func (s *Service) remove(ctx context.Context, kv jetstream.KeyValue, n Notification) error {
	if err := kv.Purge(ctx, noteKey(n.Bucket, n.ID)); err != nil {
		return fmt.Errorf("remove %s: %w", n.ID, err)
	}
	err := s.js.DeleteConsumer(ctx, StreamName, consumerName(n.Bucket, n.ID))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("remove %s: consumer: %w", n.ID, err)
	}
	return nil
}

// Notifications lists a bucket's notifications, by id.
func (s *Service) Notifications(ctx context.Context, bucket string) ([]Notification, error) {
	if err := validBucket(bucket); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", bucket, err)
	}
	out, err := s.list(ctx, kv, bucket)
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", bucket, err)
	}
	return out, nil
}

// RemoveBucket drops a deleted bucket's notifications and the events not
// delivered yet.
func (s *Service) RemoveBucket(ctx context.Context, bucket string) error {
	if err := validBucket(bucket); err != nil {
		return fmt.Errorf("remove bucket: %w", err)
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	have, err := s.list(ctx, kv, bucket)
	if err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	for _, n := range have {
		if err := s.remove(ctx, kv, n); err != nil {
			return fmt.Errorf("remove bucket %s: %w", bucket, err)
		}
	}
	st, err := s.js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	for _, subj := range []string{bucketSubject(bucket), bucketSubject(bucket) + ".>"} {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("remove bucket %s: purge events: %w", bucket, err)
		}
	}
	return nil
}

// notification reads one notification.
func (s *Service) notification(ctx context.Context, bucket, id string) (*Notification, error) {
	if err := validBucket(bucket); err != nil {
		return nil, err
	}
	if err := validID(id); err != nil {
		return nil, err
	}
	kv, err := s.kv(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, noteKey(bucket, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("notification %s/%s: %w", bucket, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("notification %s/%s: %w", bucket, id, err)
	}
	return decodeNotification(e.Key(), e.Value())
}

func decodeNotification(key string, value []byte) (*Notification, error) {
	var n Notification
	if err := json.Unmarshal(value, &n); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return &n, nil
}

// list reads a bucket's notifications in one pass, sorted by id.
func (s *Service) list(ctx context.Context, kv jetstream.KeyValue, bucket string) ([]Notification, error) {
	entries, err := bus.Scan(ctx, kv, notePrefix+token(bucket)+".*")
	if err != nil {
		return nil, err
	}
	out := make([]Notification, 0, len(entries))
	for _, e := range entries {
		n, err := decodeNotification(e.Key(), e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Notification) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

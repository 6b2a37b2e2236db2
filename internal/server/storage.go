package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/bus"
	"github.com/gureum/gureum/internal/events/async"
	"github.com/gureum/gureum/internal/events/bucket"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/events/queue"
	"github.com/gureum/gureum/internal/events/topic"
	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/storage/blob"
	"github.com/gureum/gureum/internal/storage/kv"
	"github.com/gureum/gureum/internal/storage/s3api"
)

// storageServices are the node's tables, buckets, bucket events and the
// S3-compatible API.
type storageServices struct {
	apps    jetstream.KeyValue // "table.NAME" / "bucket.NAME" → the app whose deploy created it
	kv      *kv.Store
	blobs   *blob.Store
	events  *bucket.Service
	s3srv   *http.Server
	s3addr  string
	started bool
}

// startStorage opens tables, buckets and bucket events on the bus and
// starts the S3-compatible API. It runs after startEvents: bucket events are
// delivered through the async path, queues and topics.
func (s *Server) startStorage(ctx context.Context) error {
	js := s.bus.JetStream()
	reps := s.bus.Replicas()
	st := &storageServices{}
	s.storage = st
	st.kv = kv.Open(js, kv.Config{Replicas: reps})
	var err error
	if st.apps, err = bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "gureum_storage_apps", Replicas: reps}); err != nil {
		return fmt.Errorf("open storage owners: %w", err)
	}
	if st.events, err = bucket.New(js, bucket.Config{
		Region: s.cfg.Region, Deliverer: bucketDeliverer{s}, Replicas: reps,
		RetryBase: s.cfg.EventRetryBase, Logger: s.log,
	}); err != nil {
		return fmt.Errorf("open bucket events: %w", err)
	}
	if st.blobs, err = blob.Open(ctx, js, blob.Config{Events: st.events, Replicas: reps, Logger: s.log}); err != nil {
		return fmt.Errorf("open buckets: %w", err)
	}
	if err := st.events.Start(ctx); err != nil {
		return fmt.Errorf("start bucket events: %w", err)
	}
	st.started = true
	if s.cfg.S3Listen == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.S3Listen)
	if err != nil {
		return fmt.Errorf("listen on %s for the S3 API: %w (is another gureum running? try --s3-listen 127.0.0.1:9001, or --s3-listen off)", s.cfg.S3Listen, err)
	}
	st.s3addr = ln.Addr().String()
	st.s3srv = &http.Server{Handler: s3api.New(s3api.Config{
		Store: st.blobs, Region: s.cfg.Region, Lookup: s.s3Lookup(), Logger: s.log,
	}), ReadHeaderTimeout: 10 * time.Second}
	s.serve(st.s3srv, ln)
	return nil
}

// stopStorage stops the S3 API and bucket event delivery.
func (s *Server) stopStorage(ctx context.Context) []error {
	st := s.storage
	if st == nil {
		return nil
	}
	var errs []error
	if st.s3srv != nil {
		if err := st.s3srv.Shutdown(ctx); err != nil {
			_ = st.s3srv.Close()
		}
	}
	if st.started {
		if err := st.events.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("bucket events: %w", err))
		}
	}
	return errs
}

// S3Addr is the address of the S3-compatible API; "" when it is off.
func (s *Server) S3Addr() string {
	if s.storage == nil {
		return ""
	}
	return s.storage.s3addr
}

// s3Lookup finds the secrets of access keys. The configured key
// (--access-key-id) may do anything. A process function's key is its host
// token, whose secret only the node can derive, and it reaches only the
// buckets the function is granted. Without a configured key, any other key
// is accepted unchecked, as the embedded default.
func (s *Server) s3Lookup() func(string) (string, s3api.Identity, bool) {
	return func(id string) (string, s3api.Identity, bool) {
		if host.IsToken(id) {
			fn, ver, err := host.VerifyToken(s.hostKey, id)
			if err != nil {
				return "", s3api.Identity{}, false
			}
			grants, err := s.hostGrants(context.Background(), fn, ver)
			if err != nil {
				return "", s3api.Identity{}, false
			}
			return s.s3Secret(id), s3api.Identity{AccessKeyID: id, Principal: "function:" + fn, Allow: grants.AllowsBucket}, true
		}
		if s.cfg.AccessKeyID != "" {
			if id != s.cfg.AccessKeyID {
				return "", s3api.Identity{}, false
			}
			return s.cfg.SecretAccessKey, s3api.Identity{AccessKeyID: id, Principal: id}, true
		}
		return "", s3api.Identity{AccessKeyID: id, Principal: id}, true
	}
}

// s3Secret is the secret access key of a function's access key (its host
// token).
func (s *Server) s3Secret(token string) string {
	m := hmac.New(sha256.New, s.hostKey)
	m.Write([]byte("gureum s3 secret v1\n"))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// functionEnv is what a process function gets to reach the node's services
// besides the host API: its region, and with the S3 API on, the endpoint
// and its own access key, so that an unchanged AWS SDK reaches the buckets
// it is granted.
func (s *Server) functionEnv(token string) map[string]string {
	env := map[string]string{"AWS_REGION": s.cfg.Region, "AWS_DEFAULT_REGION": s.cfg.Region}
	if a, ok := loopbackAddr(s.S3Addr()); ok {
		env["AWS_ENDPOINT_URL_S3"] = "http://" + a
		env["AWS_ACCESS_KEY_ID"] = token
		env["AWS_SECRET_ACCESS_KEY"] = s.s3Secret(token)
	}
	return env
}

// bucketDeliverer hands bucket events to functions (asynchronously, as S3
// invokes Lambda), queues, topics and dead-letter queues.
type bucketDeliverer struct{ s *Server }

func (d bucketDeliverer) Function(ctx context.Context, function string, event []byte, traceparent string) error {
	_, err := d.s.events.async.Submit(ctx, async.Event{Function: function, Payload: event, Trigger: "bucket", TraceParent: traceparent, Source: bucketSource(event)})
	return err
}

func (d bucketDeliverer) Queue(ctx context.Context, queueName, body, traceparent string) error {
	return d.s.sendOne(ctx, queueName, queue.SendEntry{Body: body, TraceParent: traceparent})
}

func (d bucketDeliverer) Topic(ctx context.Context, topicName, message, traceparent string) error {
	_, err := d.s.events.topics.Publish(ctx, topicName, topic.PublishInput{Subject: "Amazon S3 Notification", Message: message, TraceParent: traceparent})
	return err
}

func (d bucketDeliverer) DeadLetter(ctx context.Context, dlq, body string, info deadletter.Info) error {
	e := queue.SendEntry{Body: body, DeadLetter: &info}
	err := d.s.sendOne(ctx, dlq, e)
	if b, _, ok := bucket.ParseDeadLetterSource(info.Source); ok && errors.Is(err, queue.ErrNotFound) && dlq == bucket.DeadLetterQueue(b) {
		// The bucket's automatic dead-letter queue, made on first use.
		if _, cerr := d.s.events.queues.Ensure(ctx, dlq, "", autoDLQAttributes()); cerr != nil {
			return fmt.Errorf("create dead-letter queue %s: %w", dlq, cerr)
		}
		err = d.s.sendOne(ctx, dlq, e)
	}
	return err
}

// bucketSource reads the bucket ARN of an S3 event for the invocation
// record.
func bucketSource(event []byte) string {
	var e struct {
		Records []struct {
			S3 struct {
				Bucket struct {
					ARN string `json:"arn"`
				} `json:"bucket"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if json.Unmarshal(event, &e) != nil || len(e.Records) == 0 {
		return ""
	}
	return e.Records[0].S3.Bucket.ARN
}

// deployStorage creates the tables and buckets a deploy declares and makes
// the bucket notifications it manages (the app's, and one per bucket event
// of each function) match it.
func (s *Server) deployStorage(ctx context.Context, req admin.DeployRequest) error {
	st := s.storage
	for _, t := range req.Tables {
		created, err := st.kv.CreateTable(ctx, t.Name)
		if err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		if created {
			st.setApp(ctx, "table."+t.Name, req.App)
		}
	}
	for _, b := range req.Buckets {
		err := st.blobs.CreateBucket(ctx, b.Name)
		if err != nil && !errors.Is(err, blob.ErrBucketExists) {
			return fmt.Errorf("bucket %s: %w", b.Name, err)
		}
		if err == nil {
			st.setApp(ctx, "bucket."+b.Name, req.App)
		}
	}
	want := make(map[string]map[string][]bucket.Notification) // bucket -> owner -> notifications
	add := func(n bucket.Notification) {
		if want[n.Bucket] == nil {
			want[n.Bucket] = map[string][]bucket.Notification{}
		}
		want[n.Bucket][n.Owner] = append(want[n.Bucket][n.Owner], n)
	}
	for _, b := range req.Buckets {
		for i, n := range b.Notifications {
			target := "queue:" + n.Queue
			if n.Topic != "" {
				target = "topic:" + n.Topic
			}
			add(bucket.Notification{
				ID: "app-" + req.App + "-" + strconv.Itoa(i), Bucket: b.Name, Target: target,
				On: n.On, Prefix: n.Prefix, Suffix: n.Suffix, Owner: "app:" + req.App,
			})
		}
	}
	for _, fc := range req.Functions {
		for i, e := range fc.Events {
			if e.Bucket == nil {
				continue
			}
			add(bucket.Notification{
				ID: "fn-" + fc.Name + "-" + strconv.Itoa(i), Bucket: e.Bucket.Name, Target: "function:" + fc.Name,
				On: e.Bucket.On, Prefix: e.Bucket.Prefix, Suffix: e.Bucket.Suffix, Owner: "function:" + fc.Name,
			})
		}
	}
	owners := []string{"app:" + req.App}
	for _, fc := range req.Functions {
		owners = append(owners, "function:"+fc.Name)
	}
	return s.reconcileNotifications(ctx, owners, want)
}

// setApp records the app that created a table or bucket; a failure only
// leaves the app column empty.
func (st *storageServices) setApp(ctx context.Context, key, app string) {
	_, _ = st.apps.Put(ctx, key, []byte(app))
}

// appOf is the app that created a table or bucket, or "".
func (st *storageServices) appOf(ctx context.Context, key string) string {
	e, err := st.apps.Get(ctx, key)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// forgetApp drops the record of a removed table or bucket.
func (st *storageServices) forgetApp(ctx context.Context, key string) {
	_ = st.apps.Purge(ctx, key)
}

// reconcileNotifications makes the notifications of owners on every bucket
// exactly want.
func (s *Server) reconcileNotifications(ctx context.Context, owners []string, want map[string]map[string][]bucket.Notification) error {
	st := s.storage
	buckets, err := st.blobs.Buckets(ctx)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		have, err := st.events.Notifications(ctx, b.Name)
		if err != nil {
			return err
		}
		for _, owner := range owners {
			w := want[b.Name][owner]
			if len(w) == 0 && !slices.ContainsFunc(have, func(n bucket.Notification) bool { return n.Owner == owner }) {
				continue
			}
			if err := st.events.SetNotifications(ctx, b.Name, owner, w); err != nil {
				return fmt.Errorf("notifications of bucket %s: %w", b.Name, err)
			}
		}
	}
	return nil
}

// removeFunctionStorage drops the bucket notifications a removed function
// owned.
func (s *Server) removeFunctionStorage(ctx context.Context, fn string) error {
	return s.reconcileNotifications(ctx, []string{"function:" + fn}, nil)
}

// checkStorageRefs reports tables, buckets and bucket notifications of a
// deploy that are invalid or name what neither the deploy nor the node has.
func (s *Server) checkStorageRefs(ctx context.Context, req admin.DeployRequest, queues, topics map[string]bool, bad func(string, ...any)) error {
	st := s.storage
	for _, t := range req.Tables {
		if err := kv.ValidTableName(t.Name); err != nil {
			bad("table %q: %v", t.Name, err)
		}
	}
	buckets := make(map[string]bool)
	for _, b := range req.Buckets {
		if err := blob.ValidBucketName(b.Name); err != nil {
			bad("bucket %q: %v", b.Name, err)
		}
		buckets[b.Name] = true
		for _, n := range b.Notifications {
			if (n.Queue == "") == (n.Topic == "") {
				bad("bucket %s: a notification names a queue or a topic, not both or neither", b.Name)
			}
			if n.Queue != "" && !queues[n.Queue] {
				bad("bucket %s: notification queue %s does not exist; declare it under queues:", b.Name, n.Queue)
			}
			if n.Topic != "" && !topics[n.Topic] {
				bad("bucket %s: notification topic %s does not exist; declare it under topics:", b.Name, n.Topic)
			}
			if err := checkOn(n.On); err != nil {
				bad("bucket %s: %v", b.Name, err)
			}
		}
	}
	have, err := st.blobs.Buckets(ctx)
	if err != nil {
		return err
	}
	for _, b := range have {
		buckets[b.Name] = true
	}
	for _, fc := range req.Functions {
		for _, e := range fc.Events {
			if e.Bucket == nil {
				continue
			}
			if !buckets[e.Bucket.Name] {
				bad("function %s: bucket %s does not exist; declare it under buckets: or create it with gureum bucket create %s", fc.Name, e.Bucket.Name, e.Bucket.Name)
			}
			if err := checkOn(e.Bucket.On); err != nil {
				bad("function %s: bucket event: %v", fc.Name, err)
			}
		}
	}
	return nil
}

func checkOn(on []string) error {
	if len(on) == 0 {
		return errors.New("no event kinds; want on: [created] and/or removed")
	}
	for _, k := range on {
		if k != registry.BucketCreated && k != registry.BucketRemoved {
			return fmt.Errorf("event kind %q: want created or removed", k)
		}
	}
	return nil
}

// hostStorage carries out allowed storage host calls.
type hostStorage struct{ s *Server }

func (h hostStorage) KVGet(ctx context.Context, c host.Caller, in host.KVKey) (host.KVItem, error) {
	_, end := h.s.hostSpan(ctx, c.TraceParent, "kv.get "+in.Table)
	it, err := h.s.storage.kv.Get(ctx, in.Table, in.Key)
	end(err)
	if err != nil {
		return host.KVItem{}, kvHostErr(err, in.Table, in.Key)
	}
	return toHostItem(it), nil
}

func (h hostStorage) KVPut(ctx context.Context, c host.Caller, in host.KVPutInput) (uint64, error) {
	_, end := h.s.hostSpan(ctx, c.TraceParent, "kv.put "+in.Table)
	rev, err := h.s.storage.kv.Put(ctx, in.Table, in.Key, in.Value, kv.PutOptions{
		IfAbsent: in.IfAbsent, IfRevision: in.IfRevision, TTL: time.Duration(in.TTLSeconds) * time.Second,
	})
	end(err)
	return rev, kvHostErr(err, in.Table, in.Key)
}

func (h hostStorage) KVDelete(ctx context.Context, c host.Caller, in host.KVDeleteInput) error {
	_, end := h.s.hostSpan(ctx, c.TraceParent, "kv.delete "+in.Table)
	err := h.s.storage.kv.Delete(ctx, in.Table, in.Key, in.IfRevision)
	end(err)
	return kvHostErr(err, in.Table, in.Key)
}

func (h hostStorage) KVList(ctx context.Context, c host.Caller, in host.KVListInput) (host.KVPage, error) {
	_, end := h.s.hostSpan(ctx, c.TraceParent, "kv.list "+in.Table)
	p, err := h.s.storage.kv.List(ctx, in.Table, kv.ListOptions{Prefix: in.Prefix, StartAfter: in.StartAfter, Limit: in.Limit, KeysOnly: in.KeysOnly})
	end(err)
	if err != nil {
		return host.KVPage{}, kvHostErr(err, in.Table, "")
	}
	out := host.KVPage{Items: make([]host.KVItem, len(p.Items)), Next: p.Next}
	for i, it := range p.Items {
		out.Items[i] = toHostItem(it)
	}
	return out, nil
}

func toHostItem(it kv.Item) host.KVItem {
	out := host.KVItem{Key: it.Key, Value: it.Value, Revision: it.Revision, Modified: it.Modified}
	if !it.Expires.IsZero() {
		e := it.Expires
		out.Expires = &e
	}
	return out
}

// kvHostErr gives a table error the host code a function sees.
func kvHostErr(err error, table, key string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kv.ErrNoTable):
		return fmt.Errorf("%w: table %s does not exist", host.ErrNotFound, table)
	case errors.Is(err, kv.ErrNotFound):
		return fmt.Errorf("%w: item %q of table %s does not exist", host.ErrNotFound, key, table)
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("%w: %v", host.ErrCondition, err)
	case errors.Is(err, kv.ErrTooLarge):
		return fmt.Errorf("%w: %v", host.ErrTooLarge, err)
	case errors.Is(err, kv.ErrInvalid):
		return fmt.Errorf("%w: %v", host.ErrInvalid, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %v", host.ErrUnavailable, err)
	}
	return err
}

func (h hostStorage) BlobGet(ctx context.Context, c host.Caller, in host.BlobGetInput) (host.BlobObject, error) {
	var opt blob.GetOptions
	if in.Range != "" {
		r, err := blob.ParseRange(in.Range)
		if err != nil {
			return host.BlobObject{}, fmt.Errorf("%w: range %q: %v", host.ErrInvalid, in.Range, err)
		}
		opt.Range = r
	}
	_, end := h.s.hostSpan(ctx, c.TraceParent, "blob.get "+in.Bucket)
	obj, body, err := h.readObject(ctx, in.Bucket, in.Key, opt)
	end(err)
	if err != nil {
		return host.BlobObject{}, blobHostErr(err, in.Bucket, in.Key)
	}
	out := host.BlobObject{
		Key: in.Key, Body: body, Size: obj.Info.Size, ETag: obj.Info.ETag, ContentType: obj.Info.ContentType,
		Metadata: obj.Info.Metadata, LastModified: obj.Info.LastModified,
	}
	if obj.Partial {
		out.Range = fmt.Sprintf("bytes %d-%d/%d", obj.Start, obj.End, obj.Info.Size)
	}
	return out, nil
}

// readObject reads an object (or range) of at most host.MaxBlobBytes.
func (h hostStorage) readObject(ctx context.Context, bucketName, key string, opt blob.GetOptions) (*blob.Object, []byte, error) {
	obj, err := h.s.storage.blobs.Get(ctx, bucketName, key, opt)
	if err != nil {
		return nil, nil, err
	}
	defer obj.Close()
	n := obj.Info.Size
	if obj.Partial {
		n = obj.End - obj.Start + 1
	}
	if n > host.MaxBlobBytes {
		return nil, nil, fmt.Errorf("%w: object %s of bucket %s has %d bytes, over the host call limit of %d; read it in ranges (GetRange)", host.ErrTooLarge, key, bucketName, n, host.MaxBlobBytes)
	}
	body, err := io.ReadAll(io.LimitReader(obj, host.MaxBlobBytes+1))
	if err != nil {
		return nil, nil, err
	}
	return obj, body, nil
}

func (h hostStorage) BlobPut(ctx context.Context, c host.Caller, in host.BlobPutInput) (host.BlobPutOutput, error) {
	trace, end := h.s.hostSpan(ctx, c.TraceParent, "blob.put "+in.Bucket)
	info, err := h.s.storage.blobs.Put(ctx, in.Bucket, in.Key, bytes.NewReader(in.Body), int64(len(in.Body)), blob.PutOptions{
		ContentType: in.ContentType, Metadata: in.Metadata,
		Actor: blob.Actor{Principal: "function:" + c.Function, RequestID: c.RequestID, TraceParent: trace},
	})
	end(err)
	if err != nil {
		return host.BlobPutOutput{}, blobHostErr(err, in.Bucket, in.Key)
	}
	return host.BlobPutOutput{ETag: info.ETag, Size: info.Size}, nil
}

func (h hostStorage) BlobDelete(ctx context.Context, c host.Caller, in host.BlobKey) error {
	trace, end := h.s.hostSpan(ctx, c.TraceParent, "blob.delete "+in.Bucket)
	_, err := h.s.storage.blobs.Delete(ctx, in.Bucket, in.Key, blob.Actor{Principal: "function:" + c.Function, RequestID: c.RequestID, TraceParent: trace})
	end(err)
	return blobHostErr(err, in.Bucket, in.Key)
}

func (h hostStorage) BlobList(ctx context.Context, c host.Caller, in host.BlobListInput) (host.BlobListOutput, error) {
	_, end := h.s.hostSpan(ctx, c.TraceParent, "blob.list "+in.Bucket)
	res, err := h.s.storage.blobs.List(ctx, in.Bucket, blob.ListOptions{Prefix: in.Prefix, Delimiter: in.Delimiter, StartAfter: in.StartAfter, MaxKeys: in.MaxKeys})
	end(err)
	if err != nil {
		return host.BlobListOutput{}, blobHostErr(err, in.Bucket, "")
	}
	out := host.BlobListOutput{Objects: make([]host.BlobInfo, len(res.Objects)), CommonPrefixes: res.CommonPrefixes}
	for i, o := range res.Objects {
		out.Objects[i] = host.BlobInfo{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified}
	}
	if res.Truncated {
		out.Next = res.Next
	}
	return out, nil
}

// blobHostErr gives a bucket error the host code a function sees.
func blobHostErr(err error, bucketName, key string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrNoBucket):
		return fmt.Errorf("%w: bucket %s does not exist", host.ErrNotFound, bucketName)
	case errors.Is(err, blob.ErrNoKey):
		return fmt.Errorf("%w: object %q of bucket %s does not exist", host.ErrNotFound, key, bucketName)
	case errors.Is(err, blob.ErrEntityTooLarge):
		return fmt.Errorf("%w: %v", host.ErrTooLarge, err)
	case errors.Is(err, blob.ErrInvalidRange), errors.Is(err, blob.ErrInvalidKey), errors.Is(err, blob.ErrInvalidName):
		return fmt.Errorf("%w: %v", host.ErrInvalid, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %v", host.ErrUnavailable, err)
	}
	return err
}

// Tables lists the node's tables (admin API).
func (s *Server) Tables(ctx context.Context) ([]admin.TableInfo, error) {
	ts, err := s.storage.kv.Tables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.TableInfo, len(ts))
	for i, t := range ts {
		out[i] = toTableInfo(t)
		out[i].App = s.storage.appOf(ctx, "table."+t.Name)
	}
	return out, nil
}

// Table describes a table.
func (s *Server) Table(ctx context.Context, name string) (*admin.TableInfo, error) {
	t, err := s.storage.kv.Table(ctx, name)
	if err != nil {
		return nil, adminKVErr(err, name)
	}
	info := toTableInfo(t)
	info.App = s.storage.appOf(ctx, "table."+t.Name)
	return &info, nil
}

func toTableInfo(t kv.TableInfo) admin.TableInfo {
	return admin.TableInfo{Name: t.Name, Items: t.Items, Bytes: t.Bytes, CreatedAt: t.CreatedAt}
}

// PutTable creates a table unless it exists.
func (s *Server) PutTable(ctx context.Context, name string) (bool, error) {
	created, err := s.storage.kv.CreateTable(ctx, name)
	return created, adminKVErr(err, name)
}

// DeleteTable removes a table and its items.
func (s *Server) DeleteTable(ctx context.Context, name string) error {
	if err := s.storage.kv.DeleteTable(ctx, name); err != nil {
		return adminKVErr(err, name)
	}
	s.storage.forgetApp(ctx, "table."+name)
	return nil
}

// GetItem reads an item.
func (s *Server) GetItem(ctx context.Context, table, key string) (*admin.Item, error) {
	it, err := s.storage.kv.Get(ctx, table, key)
	if err != nil {
		return nil, adminKVErr(err, table)
	}
	out := toAdminItem(it)
	return &out, nil
}

// PutItem writes an item.
func (s *Server) PutItem(ctx context.Context, table, key string, req admin.PutItemRequest) (*admin.PutItemResponse, error) {
	if req.TTLSeconds < 0 {
		return nil, fmt.Errorf("%w: ttlSeconds %d is negative", admin.ErrInvalid, req.TTLSeconds)
	}
	rev, err := s.storage.kv.Put(ctx, table, key, req.Value, kv.PutOptions{
		IfAbsent: req.IfAbsent, IfRevision: req.IfRevision, TTL: time.Duration(req.TTLSeconds) * time.Second,
	})
	if err != nil {
		return nil, adminKVErr(err, table)
	}
	return &admin.PutItemResponse{Revision: rev}, nil
}

// DeleteItem removes an item.
func (s *Server) DeleteItem(ctx context.Context, table, key string, ifRevision uint64) error {
	return adminKVErr(s.storage.kv.Delete(ctx, table, key, ifRevision), table)
}

// ScanItems reads a page of a table's items.
func (s *Server) ScanItems(ctx context.Context, table string, req admin.ScanRequest) (*admin.ItemPage, error) {
	p, err := s.storage.kv.List(ctx, table, kv.ListOptions{Prefix: req.Prefix, StartAfter: req.StartAfter, Limit: req.Limit, KeysOnly: req.KeysOnly})
	if err != nil {
		return nil, adminKVErr(err, table)
	}
	out := &admin.ItemPage{Items: make([]admin.Item, len(p.Items)), Next: p.Next}
	for i, it := range p.Items {
		out.Items[i] = toAdminItem(it)
	}
	return out, nil
}

func toAdminItem(it kv.Item) admin.Item {
	out := admin.Item{Key: it.Key, Value: it.Value, Revision: it.Revision, Modified: it.Modified}
	if !it.Expires.IsZero() {
		e := it.Expires
		out.Expires = &e
	}
	return out
}

// adminKVErr gives a table error its admin API meaning.
func adminKVErr(err error, table string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kv.ErrNoTable):
		return fmt.Errorf("%w: table %s does not exist; create it with gureum table create %s", admin.ErrTableNotFound, table, table)
	case errors.Is(err, kv.ErrNotFound):
		return fmt.Errorf("%w: %v", admin.ErrItemNotFound, err)
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("%w: %v", admin.ErrCondition, err)
	case errors.Is(err, kv.ErrTooLarge):
		return fmt.Errorf("%w: %v", admin.ErrItemTooLarge, err)
	case errors.Is(err, kv.ErrInvalid):
		return fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	return err
}

// Buckets lists the node's buckets (admin API).
func (s *Server) Buckets(ctx context.Context) ([]admin.BucketInfo, error) {
	bs, err := s.storage.blobs.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.BucketInfo, 0, len(bs))
	for _, b := range bs {
		info, err := s.bucketInfo(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// Bucket describes a bucket and its notifications.
func (s *Server) Bucket(ctx context.Context, name string) (*admin.BucketInfo, error) {
	b, err := s.storage.blobs.Bucket(ctx, name)
	if err != nil {
		return nil, adminBlobErr(err, name)
	}
	return s.bucketInfo(ctx, b)
}

func (s *Server) bucketInfo(ctx context.Context, b blob.BucketInfo) (*admin.BucketInfo, error) {
	ns, err := s.storage.events.Notifications(ctx, b.Name)
	if err != nil {
		return nil, err
	}
	info := &admin.BucketInfo{Name: b.Name, App: s.storage.appOf(ctx, "bucket."+b.Name), Objects: b.Objects, Bytes: b.Bytes, CreatedAt: b.CreatedAt}
	for _, n := range ns {
		info.Notifications = append(info.Notifications, admin.BucketNotification{
			ID: n.ID, Target: n.Target, On: n.On, Prefix: n.Prefix, Suffix: n.Suffix, Owner: n.Owner,
		})
	}
	return info, nil
}

// PutBucket creates a bucket unless it exists.
func (s *Server) PutBucket(ctx context.Context, name string) (bool, error) {
	err := s.storage.blobs.CreateBucket(ctx, name)
	if errors.Is(err, blob.ErrBucketExists) {
		return false, nil
	}
	return err == nil, adminBlobErr(err, name)
}

// DeleteBucket removes a bucket; with force, its objects first (each
// removal an event) and its unfinished uploads.
func (s *Server) DeleteBucket(ctx context.Context, name string, force bool) error {
	st := s.storage
	if force {
		for {
			res, err := st.blobs.List(ctx, name, blob.ListOptions{})
			if err != nil {
				return adminBlobErr(err, name)
			}
			for _, o := range res.Objects {
				if _, err := st.blobs.Delete(ctx, name, o.Key, blob.Actor{Principal: "admin"}); err != nil && !errors.Is(err, blob.ErrNoKey) {
					return adminBlobErr(err, name)
				}
			}
			if !res.Truncated {
				break
			}
		}
		ups, err := st.blobs.Uploads(ctx, name)
		if err != nil {
			return adminBlobErr(err, name)
		}
		for _, u := range ups {
			if err := st.blobs.AbortUpload(ctx, name, u.Key, u.UploadID); err != nil && !errors.Is(err, blob.ErrNoUpload) {
				return adminBlobErr(err, name)
			}
		}
	}
	if err := st.blobs.DeleteBucket(ctx, name); err != nil {
		return adminBlobErr(err, name)
	}
	st.forgetApp(ctx, "bucket."+name)
	return st.events.RemoveBucket(ctx, name)
}

// adminBlobErr gives a bucket error its admin API meaning.
func adminBlobErr(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrNoBucket):
		return fmt.Errorf("%w: bucket %s does not exist; create it with gureum bucket create %s", admin.ErrBucketNotFound, name, name)
	case errors.Is(err, blob.ErrBucketNotEmpty):
		return fmt.Errorf("%w: bucket %s still holds objects; remove them first, or use gureum bucket rm --force %s", admin.ErrBucketNotEmpty, name, name)
	case errors.Is(err, blob.ErrInvalidName):
		return fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	return err
}

var (
	_ admin.StorageService = (*Server)(nil)
	_ host.Storage         = hostStorage{}
	_ bucket.Deliverer     = bucketDeliverer{}
)

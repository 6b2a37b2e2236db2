package bucket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gureum/gureum/internal/bus/bustest"
	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/storage/blob"
)

func decodeS3(t *testing.T, body string) events.S3EventRecord {
	t.Helper()
	var ev events.S3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatalf("not an S3 event: %v\n%s", err, body)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("%d records, want 1: %s", len(ev.Records), body)
	}
	return ev.Records[0]
}

func TestDeliveryToTargets(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	s := newService(t, b.JetStream(), rec, true)
	const bucket = "photos.example"
	setNotes(t, s, bucket, "app:shop",
		Notification{ID: "to-fn", Target: "function:thumbs", On: []string{registry.BucketCreated, registry.BucketRemoved}},
		Notification{ID: "to-queue", Target: "queue:uploads", On: []string{registry.BucketCreated}},
		Notification{ID: "to-topic", Target: "topic:changes", On: []string{registry.BucketCreated}},
	)
	const key = "albums/my cat (1)+ä.jpg"
	emit(t, s, put(bucket, key))
	for _, target := range []string{"function:thumbs", "queue:uploads", "topic:changes"} {
		waitFor(t, target+" to get the event", func() bool { return len(rec.deliveries(target)) == 1 })
	}

	for target, id := range map[string]string{"function:thumbs": "to-fn", "queue:uploads": "to-queue", "topic:changes": "to-topic"} {
		d := rec.deliveries(target)[0]
		if d.traceparent != tp {
			t.Errorf("%s: traceparent %q, want %q", target, d.traceparent, tp)
		}
		r := decodeS3(t, d.body)
		checks := map[string][2]string{
			"eventVersion":      {r.EventVersion, "2.1"},
			"eventSource":       {r.EventSource, "aws:s3"},
			"awsRegion":         {r.AWSRegion, "eu-west-1"},
			"eventName":         {r.EventName, "ObjectCreated:Put"},
			"principalId":       {r.PrincipalID.PrincipalID, "AKIDEXAMPLE"},
			"sourceIPAddress":   {r.RequestParameters.SourceIPAddress, "127.0.0.1"},
			"x-amz-request-id":  {r.ResponseElements["x-amz-request-id"], "req-1"},
			"s3SchemaVersion":   {r.S3.SchemaVersion, "1.0"},
			"configurationId":   {r.S3.ConfigurationID, id},
			"bucket.name":       {r.S3.Bucket.Name, bucket},
			"bucket.arn":        {r.S3.Bucket.Arn, "arn:aws:s3:::" + bucket},
			"bucket.owner":      {r.S3.Bucket.OwnerIdentity.PrincipalID, OwnerID},
			"object.key":        {r.S3.Object.Key, "albums/my+cat+%281%29%2B%C3%A4.jpg"},
			"object.decodedKey": {r.S3.Object.URLDecodedKey, key},
			"object.eTag":       {r.S3.Object.ETag, "0123456789abcdef0123456789abcdef"},
			"object.sequencer":  {r.S3.Object.Sequencer, "0000000000000001"},
		}
		for name, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s: %s = %q, want %q", target, name, c[0], c[1])
			}
		}
		if r.ResponseElements["x-amz-id-2"] == "" {
			t.Errorf("%s: no x-amz-id-2", target)
		}
		if r.S3.Object.Size != 42 {
			t.Errorf("%s: size %d, want 42", target, r.S3.Object.Size)
		}
		if want := time.Date(2025, 3, 4, 5, 6, 7, 891000000, time.UTC); !r.EventTime.Equal(want) {
			t.Errorf("%s: eventTime %v, want %v", target, r.EventTime, want)
		}
		if !strings.Contains(d.body, `"eventTime":"2025-03-04T05:06:07.891Z"`) {
			t.Errorf("%s: eventTime not in S3's form: %s", target, d.body)
		}
		for _, absent := range []string{"urlDecodedKey", "versionId", "glacierEventData"} {
			if strings.Contains(d.body, absent) {
				t.Errorf("%s: body has %s, which S3 does not send: %s", target, absent, d.body)
			}
		}
	}

	// A removal has neither size nor eTag.
	emit(t, s, del(bucket, key))
	waitFor(t, "the removal", func() bool { return len(rec.deliveries("function:thumbs")) == 2 })
	body := rec.deliveries("function:thumbs")[1].body
	r := decodeS3(t, body)
	if r.EventName != blob.EventDelete || r.S3.Object.URLDecodedKey != key {
		t.Errorf("removal record: %s %q", r.EventName, r.S3.Object.URLDecodedKey)
	}
	if strings.Contains(body, `"size"`) || strings.Contains(body, `"eTag"`) {
		t.Errorf("removal has size or eTag: %s", body)
	}
	waitSettled(t, b.JetStream(), bucket, "to-queue")
	if n := len(rec.deliveries("queue:uploads")); n != 1 {
		t.Errorf("queue on created only got %d events, want 1", n)
	}
}

func TestFilters(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	s := newService(t, b.JetStream(), rec, true)
	setNotes(t, s, "media", "app:a",
		Notification{ID: "jpegs", Target: "queue:jpegs", On: []string{registry.BucketCreated}, Prefix: "images/", Suffix: ".jpg"},
		Notification{ID: "removals", Target: "queue:removals", On: []string{registry.BucketRemoved}},
		Notification{ID: "all", Target: "queue:all", On: []string{registry.BucketRemoved, registry.BucketCreated, registry.BucketCreated}},
	)
	setNotes(t, s, "other", "app:a", Notification{ID: "all", Target: "queue:other", On: []string{registry.BucketCreated}})
	emit(t, s,
		put("media", "images/a.jpg"),
		put("media", "images/b.png"),
		put("media", "docs/c.jpg"),
		put("media", "images/sub/d.jpg"),
		del("media", "images/a.jpg"),
		put("other", "images/x.jpg"),
	)
	for _, id := range []string{"jpegs", "removals", "all"} {
		waitSettled(t, b.JetStream(), "media", id)
	}
	waitSettled(t, b.JetStream(), "other", "all")
	keys := func(target string) []string {
		var out []string
		for _, d := range rec.deliveries(target) {
			r := decodeS3(t, d.body)
			out = append(out, EventKind(r.EventName)+" "+r.S3.Object.URLDecodedKey)
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"queue:jpegs":    {"created images/a.jpg", "created images/sub/d.jpg"},
		"queue:removals": {"removed images/a.jpg"},
		"queue:all":      {"created docs/c.jpg", "created images/a.jpg", "created images/b.png", "created images/sub/d.jpg", "removed images/a.jpg"},
		"queue:other":    {"created images/x.jpg"},
	}
	for target, w := range want {
		if got := keys(target); !slices.Equal(got, w) {
			t.Errorf("%s got %q, want %q", target, got, w)
		}
	}
	notes, err := s.Notifications(testContext(t), "media")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 3 || notes[0].ID != "all" || !slices.Equal(notes[0].On, []string{registry.BucketCreated, registry.BucketRemoved}) {
		t.Errorf("notifications: %+v", notes)
	}
}

func TestTwoNodesDeliverEachEventOnce(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	// Admin is not started: it only manages and records; the two nodes
	// deliver, following notifications made through it.
	admin := newService(t, b.JetStream(), nil, false)
	n1 := newService(t, b.JetStream(), rec, true)
	n2 := newService(t, b.JetStream(), rec, true)
	setNotes(t, admin, "shared", "app:a", Notification{ID: "n", Target: "function:work", On: []string{registry.BucketCreated}})
	for _, s := range []*Service{n1, n2} {
		waitFor(t, "both nodes to run the notification", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.runners) == 1
		})
	}
	const total = 40
	for i := range total {
		emit(t, admin, put("shared", fmt.Sprintf("k%02d", i)))
	}
	waitFor(t, "every event", func() bool { return rec.count() >= total })
	waitSettled(t, b.JetStream(), "shared", "n")
	seen := map[string]int{}
	for _, d := range rec.deliveries("function:work") {
		seen[decodeS3(t, d.body).S3.Object.URLDecodedKey]++
	}
	if len(seen) != total {
		t.Errorf("%d distinct keys delivered, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}

	// Removing the notification stops both nodes' runners.
	setNotes(t, admin, "shared", "app:a")
	for _, s := range []*Service{n1, n2} {
		waitFor(t, "both nodes to stop the notification", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.runners) == 0
		})
	}
}

func TestRetryThenSucceed(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	rec.fail = failFirst(2)
	s := newService(t, b.JetStream(), rec, true)
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "topic:t", On: []string{registry.BucketCreated}})
	emit(t, s, put("b", "k"))
	waitFor(t, "the delivery", func() bool { return len(rec.deliveries("topic:t")) == 1 })
	waitSettled(t, b.JetStream(), "b", "n")
	if n := rec.attemptsAt("topic:t"); n != 3 {
		t.Errorf("%d attempts, want 3 (two failures, then success)", n)
	}
	if d := rec.deadLetters(); len(d) != 0 {
		t.Errorf("dead letters: %+v", d)
	}
}

func TestDeadLetterAndRedeliver(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	rec.fail = failFirst(1000)
	rec.failDead = func(n int) error {
		if n == 1 {
			return errors.New("dlq unavailable")
		}
		return nil
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newService(t, b.JetStream(), rec, true, func(c *Config) {
		c.MaxAttempts = 3
		c.Now = func() time.Time { return at }
	})
	const bucket = "in.box"
	setNotes(t, s, bucket, "function:f",
		Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}},
		Notification{ID: "other", Target: "queue:other", On: []string{registry.BucketRemoved}},
	)
	emit(t, s, put(bucket, "a b"))
	waitFor(t, "the dead letter", func() bool { return len(rec.deadLetters()) == 1 })
	waitSettled(t, b.JetStream(), bucket, "n")
	if n := rec.attemptsAt("queue:q"); n != 3 {
		t.Errorf("%d attempts, want MaxAttempts (3)", n)
	}
	dl := rec.deadLetters()[0]
	if dl.dlq != "bucket-in-box-dlq" || dl.dlq != DeadLetterQueue(bucket) {
		t.Errorf("dlq %q", dl.dlq)
	}
	wantSrc := deadletter.Source{Kind: deadletter.KindSubscription, Name: "bucket:" + bucket, Sub: "n"}
	if dl.info.Source != wantSrc || dl.info.Count != 3 || !dl.info.At.Equal(at) || !strings.Contains(dl.info.Reason, errDown.Error()) {
		t.Errorf("dead-letter info %+v", dl.info)
	}
	src, err := deadletter.ParseSource(dl.info.Source.String())
	if err != nil {
		t.Fatalf("the source does not parse back: %v", err)
	}
	gotBucket, gotID, ok := ParseDeadLetterSource(src)
	if !ok || gotBucket != bucket || gotID != "n" {
		t.Errorf("ParseDeadLetterSource(%s) = %q, %q, %v", src, gotBucket, gotID, ok)
	}
	r := decodeS3(t, dl.body)
	if r.S3.ConfigurationID != "n" || r.S3.Object.Key != "a+b" {
		t.Errorf("dead-lettered body: %s", dl.body)
	}

	// The replay reaches that notification alone, as it was, unfiltered
	// (the other notification takes removals only, and this is a put).
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	if err := s.Redeliver(testContext(t), gotBucket, gotID, []byte(dl.body), tp); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	waitFor(t, "the replay", func() bool { return len(rec.deliveries("queue:q")) == 1 })
	if d := rec.deliveries("queue:q")[0]; d.body != dl.body || d.traceparent != tp {
		t.Errorf("replayed %q (traceparent %q), want the dead letter's body", d.body, d.traceparent)
	}
	waitSettled(t, b.JetStream(), bucket, "other")
	if n := rec.attemptsAt("queue:other"); n != 0 {
		t.Errorf("the other notification got %d attempts", n)
	}
	if err := s.Redeliver(testContext(t), bucket, "missing", []byte(`{}`), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Redeliver to a missing notification: %v, want ErrNotFound", err)
	}
	if err := s.Redeliver(testContext(t), bucket, "n", []byte(`{`), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Redeliver of broken JSON: %v, want ErrInvalid", err)
	}
}

func TestUnreadableEventIsDeadLettered(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	s := newService(t, b.JetStream(), rec, true)
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	if _, err := b.JetStream().Publish(testContext(t), bucketSubject("b"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter", func() bool { return len(rec.deadLetters()) == 1 })
	if d := rec.deadLetters()[0]; d.body != "not json" || d.info.Count != 1 {
		t.Errorf("dead letter %+v", d)
	}
	if n := rec.attemptsAt("queue:q"); n != 0 {
		t.Errorf("%d delivery attempts of an unreadable event", n)
	}
}

func TestSetNotificationsReconcilesByOwner(t *testing.T) {
	b := bustest.Start(t)
	js := b.JetStream()
	rec := newRecorder()
	s := newService(t, js, rec, true)
	ctx := testContext(t)
	created := []string{registry.BucketCreated}
	setNotes(t, s, "b", "function:f",
		Notification{ID: "f1", Target: "function:f", On: created},
		Notification{ID: "f2", Target: "function:f", On: created, Prefix: "old/"},
	)
	setNotes(t, s, "b", "app:shop", Notification{ID: "a1", Target: "queue:q", On: created})
	hasConsumer := func(id string) bool {
		_, err := js.Consumer(ctx, StreamName, consumerName("b", id))
		return err == nil
	}

	// f's deploy now keeps f2 only, with a new prefix; a1 stays.
	setNotes(t, s, "b", "function:f", Notification{ID: "f2", Target: "function:f", On: created, Prefix: "new/"})
	notes, err := s.Notifications(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range notes {
		got = append(got, n.ID+" "+n.Owner+" "+n.Prefix)
	}
	if want := []string{"a1 app:shop ", "f2 function:f new/"}; !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q", got, want)
	}
	if hasConsumer("f1") || !hasConsumer("f2") || !hasConsumer("a1") {
		t.Errorf("consumers: f1 %v (want gone), f2 %v, a1 %v", hasConsumer("f1"), hasConsumer("f2"), hasConsumer("a1"))
	}
	// The running node follows the new prefix.
	waitFor(t, "the runner to see the new prefix", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		r := s.runners[noteKey("b", "f2")]
		return r != nil && r.note.Load().Prefix == "new/" && len(s.runners) == 2
	})
	emit(t, s, put("b", "old/x"), put("b", "new/y"))
	waitSettled(t, js, "b", "f2")
	if d := rec.deliveries("function:f"); len(d) != 1 || decodeS3(t, d[0].body).S3.Object.Key != "new/y" {
		t.Errorf("function got %d events, want new/y only", len(d))
	}

	// Another owner may not take an id.
	err = s.SetNotifications(ctx, "b", "app:other", []Notification{{ID: "a1", Target: "queue:z", On: created}})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("taking another owner's id: %v, want ErrConflict", err)
	}
	// Invalid input changes nothing.
	for name, bad := range map[string][]Notification{
		"no on":        {{ID: "x", Target: "queue:q"}},
		"unknown on":   {{ID: "x", Target: "queue:q", On: []string{"changed"}}},
		"bad target":   {{ID: "x", Target: "bucket:q", On: created}},
		"bad id":       {{ID: "x.y", Target: "queue:q", On: created}},
		"twice":        {{ID: "x", Target: "queue:q", On: created}, {ID: "x", Target: "queue:q", On: created}},
		"other bucket": {{ID: "x", Bucket: "c", Target: "queue:q", On: created}},
		"other owner":  {{ID: "x", Owner: "app:zzz", Target: "queue:q", On: created}},
	} {
		if err := s.SetNotifications(ctx, "b", "app:shop", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.SetNotifications(ctx, "", "app:shop", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty bucket: %v, want ErrInvalid", err)
	}
	if notes, _ := s.Notifications(ctx, "b"); len(notes) != 2 {
		t.Errorf("%d notifications after rejected changes, want 2", len(notes))
	}

	// An owner with nothing left removes its own only.
	setNotes(t, s, "b", "function:f")
	if notes, _ := s.Notifications(ctx, "b"); len(notes) != 1 || notes[0].ID != "a1" {
		t.Errorf("after f removed its own: %+v", notes)
	}
}

func TestEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b1 := bustest.StartIn(t, dir)
	s1 := newService(t, b1.JetStream(), nil, false)
	setNotes(t, s1, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	// Recorded while no node delivers.
	emit(t, s1, put("b", "one"), put("b", "two"), put("b", "three"))
	if err := b1.Shutdown(testContext(t)); err != nil {
		t.Fatalf("bus shutdown: %v", err)
	}

	b2 := bustest.StartIn(t, dir)
	rec := newRecorder()
	newService(t, b2.JetStream(), rec, true)
	waitFor(t, "the events recorded before the restart", func() bool { return rec.count() == 3 })
	var keys []string
	for _, d := range rec.deliveries("queue:q") {
		keys = append(keys, decodeS3(t, d.body).S3.Object.Key)
	}
	slices.Sort(keys)
	if want := []string{"one", "three", "two"}; !slices.Equal(keys, want) {
		t.Errorf("delivered %q, want %q", keys, want)
	}
}

func TestNewNotificationGetsNoOldEvents(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	s := newService(t, b.JetStream(), rec, false)
	created := []string{registry.BucketCreated}
	emit(t, s, put("b", "unwatched"))
	st, err := b.JetStream().Stream(testContext(t), StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(testContext(t)); err != nil || info.State.Msgs != 0 {
		t.Errorf("an event of a bucket without notifications is kept (%v)", err)
	}
	// "before" waits in the stream for the first notification while the
	// second one is added: the second must not get it.
	setNotes(t, s, "b", "app:a", Notification{ID: "first", Target: "queue:first", On: created})
	emit(t, s, put("b", "before"))
	setNotes(t, s, "b", "app:a",
		Notification{ID: "first", Target: "queue:first", On: created},
		Notification{ID: "second", Target: "queue:second", On: created})
	emit(t, s, put("b", "after"))
	if err := s.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, b.JetStream(), "b", "first")
	waitSettled(t, b.JetStream(), "b", "second")
	keys := func(target string) []string {
		var out []string
		for _, d := range rec.deliveries(target) {
			out = append(out, decodeS3(t, d.body).S3.Object.Key)
		}
		slices.Sort(out)
		return out
	}
	if got := keys("queue:first"); !slices.Equal(got, []string{"after", "before"}) {
		t.Errorf("first got %q, want after and before", got)
	}
	if got := keys("queue:second"); !slices.Equal(got, []string{"after"}) {
		t.Errorf("second got %q, want after only", got)
	}
}

func TestRemoveBucket(t *testing.T) {
	b := bustest.Start(t)
	js := b.JetStream()
	s := newService(t, js, nil, false) // nobody delivers: events stay pending
	created := []string{registry.BucketCreated}
	setNotes(t, s, "gone", "app:a", Notification{ID: "n1", Target: "queue:q", On: created})
	setNotes(t, s, "gone", "function:f", Notification{ID: "n2", Target: "function:f", On: created})
	setNotes(t, s, "kept", "app:a", Notification{ID: "n1", Target: "queue:q", On: created})
	emit(t, s, put("gone", "a"), put("gone", "b"), put("kept", "c"))

	if err := s.RemoveBucket(testContext(t), "gone"); err != nil {
		t.Fatalf("RemoveBucket: %v", err)
	}
	if notes, err := s.Notifications(testContext(t), "gone"); err != nil || len(notes) != 0 {
		t.Errorf("notifications after removal: %+v, %v", notes, err)
	}
	for _, id := range []string{"n1", "n2"} {
		if _, err := js.Consumer(testContext(t), StreamName, consumerName("gone", id)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Errorf("consumer %s: %v, want ErrConsumerNotFound", id, err)
		}
	}
	st, err := js.Stream(testContext(t), StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(testContext(t), jetstream.WithSubjectFilter(subjectPrefix+">"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Subjects[bucketSubject("gone")] != 0 || info.State.Subjects[bucketSubject("kept")] != 1 {
		t.Errorf("pending events by subject: %v, want the kept bucket's only", info.State.Subjects)
	}
	if notes, _ := s.Notifications(testContext(t), "kept"); len(notes) != 1 {
		t.Errorf("the other bucket lost its notifications: %+v", notes)
	}
}

func TestShutdownAwaitsWork(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	rec.block = make(chan struct{})
	rec.started = make(chan struct{}, 10)
	s, err := New(b.JetStream(), Config{Deliverer: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	waitFor(t, "the runner", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.runners) == 1
	})
	emit(t, s, put("b", "k"))
	select {
	case <-rec.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery did not start")
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(testContext(t)) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a delivery was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(rec.block)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The delivery finished, uncancelled, before Shutdown returned.
	if n := len(rec.deliveries("queue:q")); n != 1 {
		t.Errorf("%d deliveries completed when Shutdown returned, want 1", n)
	}
	if err := s.Start(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrClosed", err)
	}
	// ObjectEvent still records: the store may finish a request meanwhile.
	emit(t, s, put("b", "late"))
}

func TestShutdownDeadlineCancelsDelivery(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	rec.block = make(chan struct{}) // never closed: only cancellation ends it
	rec.started = make(chan struct{}, 10)
	s, err := New(b.JetStream(), Config{Deliverer: rec})
	if err != nil {
		t.Fatal(err)
	}
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	if err := s.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	emit(t, s, put("b", "k"))
	<-rec.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: %v, want DeadlineExceeded", err)
	}
	// The event was not acknowledged: the next node delivers it.
	rec2 := newRecorder()
	newService(t, b.JetStream(), rec2, true)
	waitFor(t, "the event on the next node", func() bool { return rec2.count() == 1 })
}

func TestValidation(t *testing.T) {
	b := bustest.Start(t)
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(nil): %v", err)
	}
	s := newService(t, b.JetStream(), nil, false)
	if err := s.Start(testContext(t)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Start without a deliverer: %v, want ErrInvalid", err)
	}
	for _, ev := range []blob.Event{{Name: blob.EventPut}, {Bucket: "b"}, {Name: blob.EventPut, Bucket: "a/b"}} {
		if err := s.ObjectEvent(testContext(t), ev); !errors.Is(err, ErrInvalid) {
			t.Errorf("ObjectEvent(%+v): %v, want ErrInvalid", ev, err)
		}
	}
}

func TestStreamMadeAgain(t *testing.T) {
	b := bustest.Start(t)
	rec := newRecorder()
	s := newService(t, b.JetStream(), rec, false)
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	if err := b.JetStream().DeleteStream(testContext(t), StreamName); err != nil {
		t.Fatal(err)
	}
	// The stream comes back with the next event (which has no consumer to
	// wait for), and setting the notifications again brings back the
	// consumer.
	emit(t, s, put("b", "lost"))
	setNotes(t, s, "b", "app:a", Notification{ID: "n", Target: "queue:q", On: []string{registry.BucketCreated}})
	emit(t, s, put("b", "kept"))
	if err := s.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event after the repair", func() bool { return rec.count() == 1 })
	waitSettled(t, b.JetStream(), "b", "n")
	if d := rec.deliveries("queue:q"); len(d) != 1 || decodeS3(t, d[0].body).S3.Object.Key != "kept" {
		t.Errorf("delivered %+v, want kept only", d)
	}
}

package queue

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestServerMessageSchedules pins down the nats-server behaviour delayed
// messages rely on (see doc.go): a "@at" schedule fires once at its time on
// the target subject, with the schedule's headers and body copied
// (Nats-Msg-Id and Nats-Schedule* removed), and the schedule message itself
// is purged, so a delayed message occupies one stream message at a time.
func TestServerMessageSchedules(t *testing.T) {
	t.Parallel()
	b := startBus(t, t.TempDir(), "")
	ctx := testContext(t)
	js := b.JetStream()
	s := openService(t, b)
	st, err := js.CreateStream(ctx, s.streamConfig("sched", DefaultAttributes()))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, consumerConfig("sched", DefaultAttributes()))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(700 * time.Millisecond)
	m := &nats.Msg{Subject: delayedSubject("sched", "x1"), Header: nats.Header{}, Data: []byte("body")}
	m.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set(jetstream.ScheduleTargetHeader, visibleSubject("sched"))
	m.Header.Set(jetstream.MsgIDHeader, "dedup-1")
	m.Header.Set("Gureum-Test", "kept")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if len(got) != 1 {
		t.Fatalf("fetch: %d messages, %v", len(got), batch.Error())
	}
	if time.Now().Before(at) {
		t.Fatalf("fired %s early", time.Until(at))
	}
	fired := got[0]
	h := fired.Headers()
	if fired.Subject() != visibleSubject("sched") || string(fired.Data()) != "body" || h.Get("Gureum-Test") != "kept" ||
		h.Get(jetstream.MsgIDHeader) != "" || h.Get(jetstream.ScheduleHeader) != "" || h.Get(jetstream.ScheduleTargetHeader) != "" {
		t.Fatalf("fired message %s %q %v", fired.Subject(), fired.Data(), h)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(delayedPrefix+"sched.>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || len(info.State.Subjects) != 0 {
		t.Fatalf("stream after firing: %d messages, delayed subjects %v", info.State.Msgs, info.State.Subjects)
	}
}

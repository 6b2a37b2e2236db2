package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/bus"
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startBus starts an embedded JetStream in dir, shut down with the test.
func startBus(t testing.TB, dir string, listen string) *bus.Bus {
	t.Helper()
	b, err := bus.Start(testContext(t), bus.Config{DataDir: dir, Listen: listen})
	if err != nil {
		t.Fatalf("start bus: %v", err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}

func openService(t testing.TB, b *bus.Bus) *Service {
	t.Helper()
	s, err := Open(testContext(t), b.JetStream(), Config{Region: "eu-test-1", AccountID: "123456789012"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// newService starts a bus of its own and a Service on it.
func newService(t testing.TB) *Service {
	t.Helper()
	return openService(t, startBus(t, t.TempDir(), ""))
}

func attrs(mod func(*Attributes)) Attributes {
	a := DefaultAttributes()
	if mod != nil {
		mod(&a)
	}
	return a
}

func mustEnsure(t testing.TB, s *Service, name string, a Attributes) {
	t.Helper()
	if _, err := s.Ensure(testContext(t), name, "test", a); err != nil {
		t.Fatalf("Ensure %s: %v", name, err)
	}
}

func mustSend(t testing.TB, s *Service, queue string, entries ...SendEntry) []SendResult {
	t.Helper()
	res, err := s.Send(testContext(t), queue, entries)
	if err != nil {
		t.Fatalf("Send to %s: %v", queue, err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Send to %s: entry %d: %v", queue, i, r.Err)
		}
	}
	return res
}

func mustReceive(t testing.TB, s *Service, queue string, opt ReceiveOptions) []Message {
	t.Helper()
	msgs, err := s.Receive(testContext(t), queue, opt)
	if err != nil {
		t.Fatalf("Receive from %s: %v", queue, err)
	}
	return msgs
}

// receiveOne long-polls until one message arrives (or fails the test).
func receiveOne(t testing.TB, s *Service, queue string) Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msgs := mustReceive(t, s, queue, ReceiveOptions{Wait: 2 * time.Second})
		switch len(msgs) {
		case 0:
			continue
		case 1:
			return msgs[0]
		default:
			t.Fatalf("received %d messages, want 1", len(msgs))
		}
	}
	t.Fatalf("no message from %s within 20s", queue)
	return Message{}
}

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func ptr[T any](v T) *T { return &v }

// connectBus connects to a running NATS as a second node would.
func connectBus(t testing.TB, url string) *bus.Bus {
	t.Helper()
	if url == "" {
		t.Fatal("no client URL")
	}
	b, err := bus.Start(testContext(t), bus.Config{URL: url, Name: "node2"})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}

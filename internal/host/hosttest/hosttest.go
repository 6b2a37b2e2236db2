// Package hosttest is a test double of host.Services for the packages that
// test the host boundary from the outside (the runtimes and the SDK): it
// records what reaches the node instead of publishing or sending.
package hosttest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/gureum/gureum/internal/host"
)

// Services records the publish and send calls that reach it and answers
// with message ids "pub-N" and "send-N", or fails every call with FailWith
// when it is set. Safe for concurrent use; read the records with Snapshot
// while calls may still arrive.
type Services struct {
	mu        sync.Mutex
	Published []host.PublishInput
	Sent      []host.SendInput
	Callers   []host.Caller // of every recorded call, in order
	FailWith  error
}

// Publish records a publish.
func (s *Services) Publish(_ context.Context, c host.Caller, in host.PublishInput) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailWith != nil {
		return "", s.FailWith
	}
	s.Published = append(s.Published, in)
	s.Callers = append(s.Callers, c)
	return fmt.Sprintf("pub-%d", len(s.Published)), nil
}

// Send records a send.
func (s *Services) Send(_ context.Context, c host.Caller, in host.SendInput) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailWith != nil {
		return "", s.FailWith
	}
	s.Sent = append(s.Sent, in)
	s.Callers = append(s.Callers, c)
	return fmt.Sprintf("send-%d", len(s.Sent)), nil
}

// Fail makes every later call fail with err (nil: succeed again).
func (s *Services) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.FailWith = err
}

// Snapshot copies what has been recorded so far.
func (s *Services) Snapshot() ([]host.PublishInput, []host.SendInput, []host.Caller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.Published), slices.Clone(s.Sent), slices.Clone(s.Callers)
}

var _ host.Services = (*Services)(nil)

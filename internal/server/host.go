package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gureum/gureum/internal/engine"
	"github.com/gureum/gureum/internal/events/queue"
	"github.com/gureum/gureum/internal/events/topic"
	"github.com/gureum/gureum/internal/host"
	"github.com/gureum/gureum/internal/invoke"
	"github.com/gureum/gureum/internal/registry"
)

// The host capability: what functions may ask of the node (publish, send),
// checked against their grants. Wasm functions reach it through the host
// module; process functions through the HTTP host API on this node's
// listener, with a token that names their function and version. The token
// key is random per node start: a process function only ever talks to the
// node that started it, and its instances end with that node.

// newHostKey returns a fresh token key.
func newHostKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, nil
}

// grantsOf reads a version's grants.
func grantsOf(v *registry.Version) host.Grants {
	p := v.Config.Permissions
	if p == nil {
		return host.Grants{}
	}
	return host.Grants{Publish: p.Publish, Send: p.Send, Tables: p.Tables, Buckets: p.Buckets, HTTP: p.HTTP}
}

// hostBinding gives the invoker host capabilities.
type hostBinding struct{ s *Server }

func (b hostBinding) Bind(v *registry.Version, requestID, trace string) engine.Host {
	return b.s.host.Bind(host.Caller{
		Function: v.Config.Name, Version: v.VersionString(), RequestID: requestID,
		TraceParent: host.TraceParent(trace), Grants: grantsOf(v),
	})
}

func (b hostBinding) Endpoint(v *registry.Version) (string, string, map[string]string) {
	if b.s.hostURL == "" {
		return "", "", nil
	}
	token := host.Token(b.s.hostKey, v.Config.Name, v.VersionString())
	return b.s.hostURL, token, b.s.functionEnv(token)
}

// hostGrants resolves the caller of a host API token.
func (s *Server) hostGrants(ctx context.Context, function, version string) (host.Grants, error) {
	v, err := s.reg.Get(ctx, function, version)
	if errors.Is(err, registry.ErrNotFound) {
		return host.Grants{}, fmt.Errorf("%w: function %s version %s no longer exists", host.ErrUnauthorized, function, version)
	}
	if err != nil {
		return host.Grants{}, err
	}
	return grantsOf(v), nil
}

// loopbackURL is the host API's URL on a listener's address, reached over
// loopback when the listener takes every interface.
func loopbackURL(addr string) string {
	a, ok := loopbackAddr(addr)
	if !ok {
		return ""
	}
	return "http://" + a + host.PathPrefix
}

// loopbackAddr is addr with an unspecified host replaced by loopback; ok is
// false when addr is not host:port.
func loopbackAddr(addr string) (string, bool) {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			h = "::1"
		}
	}
	return net.JoinHostPort(h, port), true
}

// hostServices carries out allowed host calls.
type hostServices struct{ s *Server }

func (h hostServices) Publish(ctx context.Context, c host.Caller, in host.PublishInput) (string, error) {
	attrs := make(map[string]topic.Attribute, len(in.Attributes))
	for k, a := range in.Attributes {
		attrs[k] = topic.Attribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
	}
	trace, end := h.s.hostSpan(ctx, c.TraceParent, "publish "+in.Topic)
	id, err := h.s.events.topics.Publish(ctx, in.Topic, topic.PublishInput{
		Subject: in.Subject, Message: in.Message, Attributes: attrs, TraceParent: trace,
	})
	end(err)
	return id, hostErr(err, "topic", in.Topic)
}

func (h hostServices) Send(ctx context.Context, c host.Caller, in host.SendInput) (string, error) {
	trace, end := h.s.hostSpan(ctx, c.TraceParent, "send "+in.Queue)
	e := queue.SendEntry{Body: in.Body, TraceParent: trace}
	if len(in.Attributes) > 0 {
		e.Attributes = make(map[string]queue.MessageAttribute, len(in.Attributes))
		for k, a := range in.Attributes {
			e.Attributes[k] = queue.MessageAttribute{DataType: a.DataType, StringValue: a.StringValue, BinaryValue: a.BinaryValue}
		}
	}
	if in.DelaySeconds > 0 {
		d := time.Duration(in.DelaySeconds) * time.Second
		e.Delay = &d
	}
	res, err := h.s.events.queues.Send(ctx, in.Queue, []queue.SendEntry{e})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	end(err)
	if err == nil && len(res) == 1 {
		return res[0].MessageID, nil
	}
	return "", hostErr(err, "queue", in.Queue)
}

// hostErr gives an event error the host code a function sees.
func hostErr(err error, kind, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrNotFound), errors.Is(err, topic.ErrNotFound):
		return fmt.Errorf("%w: %s %s does not exist", host.ErrNotFound, kind, name)
	case errors.Is(err, queue.ErrTooLarge), errors.Is(err, topic.ErrTooLarge):
		return fmt.Errorf("%w: %v", host.ErrTooLarge, err)
	case errors.Is(err, queue.ErrInvalid), errors.Is(err, topic.ErrInvalid):
		return fmt.Errorf("%w: %v", host.ErrInvalid, err)
	case errors.Is(err, invoke.ErrShuttingDown), errors.Is(err, queue.ErrClosed), errors.Is(err, topic.ErrClosed), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %v", host.ErrUnavailable, err)
	default:
		return err
	}
}

var _ invoke.Host = hostBinding{}
var _ host.Services = hostServices{}

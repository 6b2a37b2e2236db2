package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Receivers pull from the queue's consumer with requests of their own
// rather than through the jetstream package's Fetch, for one request form
// Fetch does not offer: no_wait together with expires. The server then
// holds the request until at least one message is there (or expires
// passes) and answers with what is there at that moment, up to the batch
// size — SQS's long poll in one round trip. A plain no_wait request is not
// used even for a short poll: the server learns of a stored message
// shortly after acknowledging its publish, so a no_wait request sent right
// after a Send could miss it; a short wait (shortPoll) closes that gap.

// shortPoll is the wait of a Receive without one.
const shortPoll = 50 * time.Millisecond

// pullRequest is JetStream's CONSUMER.MSG.NEXT request.
type pullRequest struct {
	Batch   int           `json:"batch"`
	Expires time.Duration `json:"expires,omitempty"`
	NoWait  bool          `json:"no_wait,omitempty"`
}

// apiPrefix is the JetStream API subject prefix js uses.
func apiPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	default:
		return jetstream.DefaultAPIPrefix
	}
}

// errConsumerGone reports a pull the server refused because the consumer
// (or its stream) does not exist.
var errConsumerGone = errors.New("queue consumer does not exist")

// pull asks the queue's consumer for up to batch messages. With anyOne it
// returns as soon as some are there (waiting up to wait for the first);
// otherwise it waits up to wait for the whole batch.
func (s *Service) pull(ctx context.Context, queue string, batch int, wait time.Duration, anyOne bool) ([]*nats.Msg, error) {
	wait = max(wait, shortPoll)
	inbox := s.nc.NewInbox()
	ch := make(chan *nats.Msg, batch+4)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	req, err := json.Marshal(pullRequest{Batch: batch, Expires: wait, NoWait: anyOne})
	if err != nil {
		return nil, err
	}
	subject := s.api + "CONSUMER.MSG.NEXT." + streamName(queue) + "." + consumerName
	if err := s.nc.PublishRequest(subject, inbox, req); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	// The server answers by expires; the margin covers the round trip.
	timer := time.NewTimer(wait + time.Second)
	defer timer.Stop()
	var msgs []*nats.Msg
	for len(msgs) < batch {
		select {
		case m := <-ch:
			status := m.Header.Get("Status")
			if status == "" || len(m.Data) > 0 {
				msgs = append(msgs, m)
				continue
			}
			switch status {
			case "100": // heartbeat
				continue
			case "404", "408": // no (more) messages; the request ended
				return msgs, nil
			case "503": // no responders
				return msgs, errConsumerGone
			}
			desc := m.Header.Get("Description")
			if strings.Contains(desc, "Deleted") {
				return msgs, errConsumerGone
			}
			return msgs, fmt.Errorf("pull: %s %s", status, desc)
		case <-timer.C:
			return msgs, nil
		case <-ctx.Done():
			// The receiver is gone: what reached it, or reaches its inbox
			// before the unsubscribe, is made visible again at once.
			_ = sub.Unsubscribe()
			for drained := false; !drained; {
				select {
				case m := <-ch:
					msgs = append(msgs, m)
				default:
					drained = true
				}
			}
			for _, m := range msgs {
				if m.Reply != "" && m.Header.Get("Status") == "" {
					_ = s.nc.Publish(m.Reply, []byte("-NAK"))
				}
			}
			return nil, ctx.Err()
		}
	}
	return msgs, nil
}

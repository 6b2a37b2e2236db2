package blob

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// scanTimeout bounds a scan whose context has no deadline.
const scanTimeout = 2 * time.Minute

// scanLast calls fn with the last message of every subject matching filter,
// in stream order, until fn returns false or an error. Messages written
// during the scan may or may not be seen.
func scanLast(ctx context.Context, st jetstream.Stream, filter string, headersOnly bool, fn func(jetstream.Msg) (bool, error)) error {
	return scan(ctx, st, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    headersOnly,
	}, fn)
}

// scan reads the messages an ordered consumer of cfg delivers, up to those
// pending when it was created, through a consumer it removes afterwards.
func scan(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, scanTimeout)
		defer cancel()
	}
	cfg.InactiveThreshold = time.Minute
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	info := cons.CachedInfo()
	defer removeConsumer(st, info.Name)
	pending := info.NumPending
	if pending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return err
	}
	defer it.Stop()
	for n := uint64(0); n < pending; n++ {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("scan %s: %w", cfg.FilterSubjects[0], err)
		}
		more, err := fn(m)
		if err != nil || !more {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if md.NumPending == 0 {
			return nil
		}
	}
	return nil
}

// countLast counts the subjects matching filter.
func countLast(ctx context.Context, st jetstream.Stream, filter string) (uint64, error) {
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{filter},
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:       true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return 0, err
	}
	info := cons.CachedInfo()
	removeConsumer(st, info.Name)
	return info.NumPending, nil
}

// removeConsumer deletes a scan's consumer; the server would drop it
// after its inactivity threshold anyway.
func removeConsumer(st jetstream.Stream, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = st.DeleteConsumer(ctx, name)
}

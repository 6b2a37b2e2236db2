package kv

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ListOptions select a page of a listing.
type ListOptions struct {
	Prefix     string // only keys that start with this
	StartAfter string // only keys after this (exclusive): a previous page's Next
	Limit      int    // items per page; 0 means DefaultListLimit, over MaxListLimit means MaxListLimit
	KeysOnly   bool   // leave Item.Value nil and read no values
}

// Page is one page of a listing, in key byte order.
type Page struct {
	Items []Item
	// Next is "" when the listing is done; otherwise pass it as StartAfter
	// for the next page. A page may hold fewer than Limit items and still
	// have a Next (when items vanish while it is read).
	Next string
}

const (
	listBatch = 1000 // messages per pull while listing
	// listInactive bounds how long the server keeps a listing's consumer
	// when the Store could not delete it.
	listInactive = 30 * time.Second
)

// List returns one page of the table's items in key byte order. It reads
// the headers of the last message of every key of the table (never the
// values), keeps the page's keys, then reads the values of those alone.
func (s *Store) List(ctx context.Context, table string, opt ListOptions) (Page, error) {
	limit := opt.Limit
	switch {
	case limit < 0:
		return Page{}, fmt.Errorf("%w: negative list limit %d", ErrInvalid, limit)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	st, err := s.stream(ctx, table)
	if err != nil {
		return Page{}, err
	}
	op := "list " + table
	prefix := subjectPrefix(table)
	cons, err := s.js.CreateConsumer(ctx, streamName(table), jetstream.ConsumerConfig{
		Description:       "gureum table listing",
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     prefix + ">",
		HeadersOnly:       true,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: listInactive,
	})
	if err != nil {
		return Page{}, s.tableErr(table, op, err)
	}
	defer func() {
		// Delete the consumer even when ctx is done; the inactivity
		// threshold removes it if this fails.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.js.DeleteConsumer(dctx, streamName(table), cons.CachedInfo().Name)
	}()

	page := newTopKeys(limit + 1)
	pending := cons.CachedInfo().NumPending
	// Writes during the listing add messages; bound the reading so that a
	// steady stream of them cannot keep it going.
	budget := 2*pending + listBatch
	for pending > 0 && budget > 0 {
		batch, err := cons.FetchNoWait(listBatch)
		if err != nil {
			return Page{}, s.tableErr(table, op, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return Page{}, fmt.Errorf("%s: %w", op, err)
			}
			pending = md.NumPending
			enc, ok := strings.CutPrefix(msg.Subject(), prefix)
			if !ok {
				continue
			}
			key, err := decodeKey(enc)
			if err != nil || !strings.HasPrefix(key, opt.Prefix) || key <= opt.StartAfter {
				continue // a key not written through this package, or not wanted
			}
			state := parseState(msg.Headers(), s.cfg.Now())
			page.offer(Item{Key: key, Revision: md.Sequence.Stream, Modified: md.Timestamp, Expires: state.expires}, state.live)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return Page{}, s.tableErr(table, op, err)
		}
		if n == 0 {
			break // nothing more to read now (keys expired under the listing)
		}
		budget -= uint64(n)
	}

	entries := page.sorted()
	var out Page
	if len(entries) > limit {
		out.Next = entries[limit-1].item.Key
		entries = entries[:limit]
	}
	out.Items = make([]Item, 0, len(entries))
	for _, e := range entries {
		if !e.live {
			continue
		}
		if opt.KeysOnly {
			out.Items = append(out.Items, e.item)
			continue
		}
		m, err := st.GetLastMsgForSubject(ctx, prefix+encodeKey(e.item.Key))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return Page{}, s.tableErr(table, op, err)
		}
		if it, ok := s.item(e.item.Key, m); ok {
			out.Items = append(out.Items, it)
		}
	}
	return out, nil
}

// listEntry is a key a listing keeps. A key that is deleted while the
// listing reads keeps its place (live false), so that the page boundary
// stays right.
type listEntry struct {
	item Item
	live bool
}

// topKeys keeps the n smallest keys offered (a max-heap on the key), with
// the latest state of each.
type topKeys struct {
	n     int
	heap  keyHeap
	byKey map[string]*listEntry
}

func newTopKeys(n int) *topKeys {
	return &topKeys{n: n, byKey: make(map[string]*listEntry)}
}

// offer considers an item; live false says the key holds no item.
func (t *topKeys) offer(it Item, live bool) {
	if e, ok := t.byKey[it.Key]; ok {
		if it.Revision > e.item.Revision {
			e.item, e.live = it, live
		}
		return
	}
	if !live {
		return
	}
	if len(t.heap) == t.n {
		if it.Key >= t.heap[0].item.Key {
			return
		}
		drop := heap.Pop(&t.heap).(*listEntry)
		delete(t.byKey, drop.item.Key)
	}
	e := &listEntry{item: it, live: true}
	heap.Push(&t.heap, e)
	t.byKey[it.Key] = e
}

// sorted returns the kept entries in ascending key order.
func (t *topKeys) sorted() []*listEntry {
	out := append([]*listEntry(nil), t.heap...)
	sort.Slice(out, func(i, j int) bool { return out[i].item.Key < out[j].item.Key })
	return out
}

// keyHeap is a max-heap of entries by key.
type keyHeap []*listEntry

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].item.Key > h[j].item.Key }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(*listEntry)) }
func (h *keyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

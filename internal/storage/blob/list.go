package blob

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// listEntry is a key or, with a delimiter, a common prefix of a listing.
type listEntry struct {
	name string
	info *ObjectInfo // nil for a common prefix
}

// List lists a page of a bucket's keys in byte order: those with
// opt.Prefix after opt.StartAfter, keys holding opt.Delimiter after the
// prefix grouped into one common prefix each. Keys and common prefixes
// together fill at most MaxKeys.
//
// The object store keeps keys in no order, so a listing reads the
// description of every object of the bucket and keeps the page's; its cost
// grows with the bucket, not the page.
func (s *Store) List(ctx context.Context, bucket string, opt ListOptions) (ListResult, error) {
	res, err := s.list(ctx, bucket, opt)
	if err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	return res, nil
}

func (s *Store) list(ctx context.Context, bucket string, opt ListOptions) (ListResult, error) {
	st, err := s.stream(ctx, bucket)
	if err != nil {
		return ListResult{}, err
	}
	limit := opt.MaxKeys
	if limit <= 0 || limit > DefaultMaxKeys {
		limit = DefaultMaxKeys
	}
	// The smallest limit+1 entries are kept: one more than a page tells
	// whether the listing is truncated.
	var entries []listEntry
	compact := func() {
		slices.SortFunc(entries, func(a, b listEntry) int { return cmp.Compare(a.name, b.name) })
		entries = slices.CompactFunc(entries, func(a, b listEntry) bool { return a.name == b.name })
		if len(entries) > limit+1 {
			entries = entries[:limit+1]
		}
	}
	err = scanLast(ctx, st, metaFilter(storeName(bucket)), false, func(m jetstream.Msg) (bool, error) {
		d, err := decodeDescription(m.Data(), metaTime(m))
		if err != nil || d.Deleted || validKey(d.Name) != nil || !strings.HasPrefix(d.Name, opt.Prefix) {
			return true, nil
		}
		e := listEntry{name: d.Name}
		if cp, ok := commonPrefix(d.Name, opt.Prefix, opt.Delimiter); ok {
			e.name = cp
		} else {
			info := objectInfo(bucket, d)
			e.info = &info
		}
		if e.name <= opt.StartAfter {
			return true, nil
		}
		entries = append(entries, e)
		if len(entries) >= 4*(limit+1) {
			compact()
		}
		return true, nil
	})
	if err != nil {
		return ListResult{}, s.bucketErr(bucket, err)
	}
	compact()
	res := ListResult{Objects: []ObjectInfo{}}
	if len(entries) > limit {
		entries = entries[:limit]
		res.Truncated = true
		res.Next = entries[limit-1].name
	}
	for _, e := range entries {
		if e.info != nil {
			res.Objects = append(res.Objects, *e.info)
		} else {
			res.CommonPrefixes = append(res.CommonPrefixes, e.name)
		}
	}
	return res, nil
}

// commonPrefix returns the part of key up to and including the first
// delimiter after prefix, if there is one.
func commonPrefix(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}

// metaTime is the time a consumed message was stored.
func metaTime(m jetstream.Msg) time.Time {
	md, err := m.Metadata()
	if err != nil {
		return time.Time{}
	}
	return md.Timestamp
}

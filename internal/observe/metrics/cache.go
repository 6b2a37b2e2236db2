package metrics

import "sync/atomic"

// cache is a copy-on-write map: get is an atomic load and a map lookup,
// with no lock and no allocation, which suits keys that are added rarely
// (once per function or route) and read on every invocation. Writers hold
// Metrics.mu and replace the whole map.
type cache[K comparable, V any] struct {
	m atomic.Pointer[map[K]V]
}

func (c *cache[K, V]) get(k K) (V, bool) {
	if p := c.m.Load(); p != nil {
		v, ok := (*p)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// putLocked adds or replaces k.
func (c *cache[K, V]) putLocked(k K, v V) {
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	next[k] = v
	c.m.Store(&next)
}

// deleteLocked removes the keys drop reports.
func (c *cache[K, V]) deleteLocked(drop func(K) bool) {
	p := c.m.Load()
	if p == nil {
		return
	}
	next := make(map[K]V, len(*p))
	for k, v := range *p {
		if !drop(k) {
			next[k] = v
		}
	}
	c.m.Store(&next)
}

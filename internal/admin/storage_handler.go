package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error codes of the tables and buckets endpoints.
const (
	CodeTableNotFound   = "TableNotFound"
	CodeItemNotFound    = "ItemNotFound"
	CodeBucketNotFound  = "BucketNotFound"
	CodeBucketNotEmpty  = "BucketNotEmpty"
	CodeConditionFailed = "ConditionFailed"
	CodeItemTooLarge    = "ItemTooLarge"
)

// Limits of the tables endpoints' requests.
const (
	// MaxItemRequestBytes bounds the body of an item put: the value (which
	// the table limits further) and the put's conditions.
	MaxItemRequestBytes = 512 << 10
	MaxItemKeyBytes     = 1024 // an item key, UTF-8
	DefaultScanLimit    = 100  // items of a scan page when no limit is given
	MaxScanLimit        = 1000
	MaxItemTTLSeconds   = 10 * 365 * 24 * 3600 // ten years
)

// storageHandler serves the tables and buckets endpoints.
type storageHandler struct {
	svc StorageService
}

// routeStorage registers the tables and buckets endpoints, served by svc.
// An item's key is the rest of the path after /items/, unescaped, so keys
// may hold '/'; clients escape each key as one path segment.
func (h *Handler) routeStorage(svc StorageService) {
	s := storageHandler{svc: svc}
	var (
		small = body{limit: maxSmallRequestBytes}
		item  = body{limit: MaxItemRequestBytes}
	)
	for _, r := range []struct {
		pattern string
		fn      http.HandlerFunc
	}{
		{"GET /tables", s.listTables},
		{"GET /tables/{name}", named("table", s.getTable)},
		// A table has no settings yet; an empty object (or no body) is the
		// only valid body.
		{"PUT /tables/{name}", withBody("table", small.as("table").orEmpty(), nil, s.putTable)},
		{"DELETE /tables/{name}", named("table", s.deleteTable)},
		{"GET /tables/{name}/items", named("table", s.scanItems)},
		{"GET /tables/{name}/items/{key...}", named("table", withKey(s.getItem))},
		{"PUT /tables/{name}/items/{key...}", withBody("table", item.as("put item request"), checkPutItem, s.putItem)},
		{"DELETE /tables/{name}/items/{key...}", named("table", withKey(s.deleteItem))},

		{"GET /buckets", s.listBuckets},
		{"GET /buckets/{name}", named("bucket", s.getBucket)},
		{"PUT /buckets/{name}", withBody("bucket", small.as("bucket").orEmpty(), nil, s.putBucket)},
		{"DELETE /buckets/{name}", named("bucket", s.deleteBucket)},
	} {
		method, path, _ := strings.Cut(r.pattern, " ")
		h.mux.HandleFunc(method+" "+Prefix+path, r.fn)
	}
}

// CheckItemKey tells what is wrong with an item key, if anything: it must
// be 1 to MaxItemKeyBytes bytes of UTF-8 without control characters. A
// table's service may refuse more.
func CheckItemKey(key string) error {
	switch {
	case key == "":
		return errors.New("item key: must not be empty")
	case len(key) > MaxItemKeyBytes:
		return fmt.Errorf("item key: %d bytes is over the limit of %d", len(key), MaxItemKeyBytes)
	case !utf8.ValidString(key):
		return errors.New("item key: not valid UTF-8")
	case strings.ContainsFunc(key, unicode.IsControl):
		return fmt.Errorf("item key %q: must not contain control characters", key)
	}
	return nil
}

// itemKey returns the {key...} path value once CheckItemKey accepts it. On
// failure it answers the request and returns false.
func itemKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("key")
	if err := CheckItemKey(key); err != nil {
		invalid(w, "%v", err)
		return "", false
	}
	return key, true
}

// withKey serves a request on one item of the named table, once itemKey
// has accepted its key.
func withKey(fn func(w http.ResponseWriter, r *http.Request, table, key string)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, table string) {
		if key, ok := itemKey(w, r); ok {
			fn(w, r, table, key)
		}
	}
}

// Tables.

func (s storageHandler) listTables(w http.ResponseWriter, r *http.Request) {
	ts, err := s.svc.Tables(r.Context())
	respondList(w, ts, err)
}

func (s storageHandler) getTable(w http.ResponseWriter, r *http.Request, name string) {
	t, err := s.svc.Table(r.Context(), name)
	respond(w, http.StatusOK, t, err)
}

func (s storageHandler) putTable(w http.ResponseWriter, r *http.Request, name string, _ struct{}) {
	created, err := s.svc.PutTable(r.Context(), name)
	respondPut(w, created, err, func() (*TableInfo, error) { return s.svc.Table(r.Context(), name) })
}

func (s storageHandler) deleteTable(w http.ResponseWriter, r *http.Request, name string) {
	respondNoContent(w, s.svc.DeleteTable(r.Context(), name))
}

// scanRequest reads the query of GET /tables/{name}/items: prefix,
// startAfter, limit (1 to MaxScanLimit; absent is 0, the service's
// default) and keysOnly (a boolean).
func scanRequest(v url.Values) (ScanRequest, error) {
	req := ScanRequest{Prefix: v.Get("prefix"), StartAfter: v.Get("startAfter")}
	for _, p := range []struct{ name, val string }{{"prefix", req.Prefix}, {"startAfter", req.StartAfter}} {
		switch {
		case len(p.val) > MaxItemKeyBytes:
			return ScanRequest{}, fmt.Errorf("%s: %d bytes is longer than a key can be (%d)", p.name, len(p.val), MaxItemKeyBytes)
		case !utf8.ValidString(p.val):
			return ScanRequest{}, fmt.Errorf("%s: not valid UTF-8", p.name)
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxScanLimit {
			return ScanRequest{}, fmt.Errorf("limit %q: want a number from 1 to %d", s, MaxScanLimit)
		}
		req.Limit = n
	}
	if s := v.Get("keysOnly"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return ScanRequest{}, fmt.Errorf("keysOnly %q: want true or false", s)
		}
		req.KeysOnly = b
	}
	return req, nil
}

func (s storageHandler) scanItems(w http.ResponseWriter, r *http.Request, table string) {
	v, ok := queryParams(w, r, "prefix", "startAfter", "limit", "keysOnly")
	if !ok {
		return
	}
	req, err := scanRequest(v)
	if err != nil {
		invalid(w, "%v", err)
		return
	}
	page, err := s.svc.ScanItems(r.Context(), table, req)
	if err == nil {
		if page == nil {
			page = &ItemPage{}
		}
		if page.Items == nil {
			page.Items = []Item{}
		}
	}
	respond(w, http.StatusOK, page, err)
}

func (s storageHandler) getItem(w http.ResponseWriter, r *http.Request, table, key string) {
	it, err := s.svc.GetItem(r.Context(), table, key)
	respond(w, http.StatusOK, it, err)
}

func checkPutItem(req PutItemRequest) error {
	switch {
	case len(req.Value) == 0:
		return errors.New("value is missing; want any JSON value")
	case req.IfAbsent && req.IfRevision != 0:
		return errors.New("give ifAbsent or ifRevision, not both")
	case req.TTLSeconds < 0 || req.TTLSeconds > MaxItemTTLSeconds:
		return fmt.Errorf("ttlSeconds %d is out of range; want 0 (no expiry) to %d", req.TTLSeconds, MaxItemTTLSeconds)
	}
	return nil
}

func (s storageHandler) putItem(w http.ResponseWriter, r *http.Request, table string, req PutItemRequest) {
	key, ok := itemKey(w, r)
	if !ok {
		return
	}
	res, err := s.svc.PutItem(r.Context(), table, key, req)
	respond(w, http.StatusOK, res, err)
}

func (s storageHandler) deleteItem(w http.ResponseWriter, r *http.Request, table, key string) {
	v, ok := queryParams(w, r, "ifRevision")
	if !ok {
		return
	}
	var rev uint64
	if sv := v.Get("ifRevision"); sv != "" {
		var err error
		if rev, err = strconv.ParseUint(sv, 10, 64); err != nil || rev == 0 {
			invalid(w, "ifRevision %q: want a revision number (1 or more)", sv)
			return
		}
	}
	respondNoContent(w, s.svc.DeleteItem(r.Context(), table, key, rev))
}

// Buckets.

func (s storageHandler) listBuckets(w http.ResponseWriter, r *http.Request) {
	bs, err := s.svc.Buckets(r.Context())
	respondList(w, bs, err)
}

func (s storageHandler) getBucket(w http.ResponseWriter, r *http.Request, name string) {
	b, err := s.svc.Bucket(r.Context(), name)
	respond(w, http.StatusOK, b, err)
}

func (s storageHandler) putBucket(w http.ResponseWriter, r *http.Request, name string, _ struct{}) {
	created, err := s.svc.PutBucket(r.Context(), name)
	respondPut(w, created, err, func() (*BucketInfo, error) { return s.svc.Bucket(r.Context(), name) })
}

func (s storageHandler) deleteBucket(w http.ResponseWriter, r *http.Request, name string) {
	v, ok := queryParams(w, r, "force")
	if !ok {
		return
	}
	force := false
	if sv := v.Get("force"); sv != "" {
		var err error
		if force, err = strconv.ParseBool(sv); err != nil {
			invalid(w, "force %q: want true or false", sv)
			return
		}
	}
	respondNoContent(w, s.svc.DeleteBucket(r.Context(), name, force))
}

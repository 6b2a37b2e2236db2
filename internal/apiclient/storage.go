package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gureum/gureum/internal/admin"
)

func tablePath(name string) string  { return "/tables/" + segment(name) }
func bucketPath(name string) string { return "/buckets/" + segment(name) }

// itemPath is the path of an item, its key escaped as one segment: a '/' in
// a key is part of it.
func itemPath(table, key string) string { return tablePath(table) + "/items/" + segment(key) }

// segment escapes s as one path segment that reaches the node as it is: a
// '/' is escaped, and so are the dots of "." and "..", which would
// otherwise be cleaned out of the path.
func segment(s string) string {
	switch esc := url.PathEscape(s); esc {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	default:
		return esc
	}
}

// Tables lists the tables.
func (c *Client) Tables(ctx context.Context) ([]admin.TableInfo, error) {
	var out []admin.TableInfo
	_, err := c.call(ctx, http.MethodGet, "/tables", nil, &out)
	return out, err
}

// Table describes one table.
func (c *Client) Table(ctx context.Context, name string) (*admin.TableInfo, error) {
	var out admin.TableInfo
	if _, err := c.call(ctx, http.MethodGet, tablePath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutTable creates a table unless it exists; created tells which.
func (c *Client) PutTable(ctx context.Context, name string) (info *admin.TableInfo, created bool, err error) {
	var out admin.TableInfo
	status, err := c.call(ctx, http.MethodPut, tablePath(name), struct{}{}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// DeleteTable removes a table and its items.
func (c *Client) DeleteTable(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodDelete, tablePath(name), nil, nil)
	return err
}

// GetItem reads one item of a table.
func (c *Client) GetItem(ctx context.Context, table, key string) (*admin.Item, error) {
	var out admin.Item
	if _, err := c.call(ctx, http.MethodGet, itemPath(table, key), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutItem writes one item of a table, under req's conditions, and returns
// its new revision.
func (c *Client) PutItem(ctx context.Context, table, key string, req admin.PutItemRequest) (*admin.PutItemResponse, error) {
	var out admin.PutItemResponse
	if _, err := c.call(ctx, http.MethodPut, itemPath(table, key), req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteItem deletes one item of a table; with ifRevision other than 0,
// only while the item is at that revision.
func (c *Client) DeleteItem(ctx context.Context, table, key string, ifRevision uint64) error {
	path := itemPath(table, key)
	if ifRevision != 0 {
		path += "?ifRevision=" + strconv.FormatUint(ifRevision, 10)
	}
	_, err := c.call(ctx, http.MethodDelete, path, nil, nil)
	return err
}

// ScanItems reads one page of a table's items in key order; pass the
// page's Next as the next request's StartAfter.
func (c *Client) ScanItems(ctx context.Context, table string, req admin.ScanRequest) (*admin.ItemPage, error) {
	q := url.Values{}
	if req.Prefix != "" {
		q.Set("prefix", req.Prefix)
	}
	if req.StartAfter != "" {
		q.Set("startAfter", req.StartAfter)
	}
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.KeysOnly {
		q.Set("keysOnly", "true")
	}
	path := tablePath(table) + "/items"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out admin.ItemPage
	if _, err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Buckets lists the buckets.
func (c *Client) Buckets(ctx context.Context) ([]admin.BucketInfo, error) {
	var out []admin.BucketInfo
	_, err := c.call(ctx, http.MethodGet, "/buckets", nil, &out)
	return out, err
}

// Bucket describes one bucket.
func (c *Client) Bucket(ctx context.Context, name string) (*admin.BucketInfo, error) {
	var out admin.BucketInfo
	if _, err := c.call(ctx, http.MethodGet, bucketPath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutBucket creates a bucket unless it exists; created tells which.
func (c *Client) PutBucket(ctx context.Context, name string) (info *admin.BucketInfo, created bool, err error) {
	var out admin.BucketInfo
	status, err := c.call(ctx, http.MethodPut, bucketPath(name), struct{}{}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// DeleteBucket removes an empty bucket; with force, one that holds objects
// too (each removal is an object event).
func (c *Client) DeleteBucket(ctx context.Context, name string, force bool) error {
	path := bucketPath(name)
	if force {
		path += "?force=true"
	}
	_, err := c.call(ctx, http.MethodDelete, path, nil, nil)
	return err
}

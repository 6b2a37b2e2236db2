package blob

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Names of what the store keeps in JetStream besides the buckets' own
// object stores.
const (
	// storePrefix starts the object store of every bucket. No other store of
	// gureum starts with it, and the stores below do not.
	storePrefix = "gb_"
	// indexBucket is the KV bucket of bucket records (name → store, creation).
	indexBucket = "gureum_blob_buckets"
	// partsStore is the object store holding unfinished multipart uploads.
	partsStore = "gureum_blob_parts"
)

// ValidBucketName reports whether name follows S3's rules for bucket names:
// 3 to 63 characters of lower-case letters, digits, '-' and '.', starting and
// ending with a letter or digit, with no two adjacent periods, and not
// formatted as an IP address. The error wraps ErrInvalidName.
func ValidBucketName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("bucket name %q %s: %w", name, why, ErrInvalidName)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(name)-1 {
				return bad("must start and end with a letter or digit")
			}
			if c == '.' && name[i-1] == '.' {
				return bad("must not contain \"..\"")
			}
		default:
			return bad("may hold only lower-case letters, digits, '-' and '.'")
		}
	}
	if looksLikeIPv4(name) {
		return bad("must not be formatted as an IP address")
	}
	return nil
}

// looksLikeIPv4 reports whether name is four dot-separated decimal numbers,
// whatever their values.
func looksLikeIPv4(name string) bool {
	labels := strings.Split(name, ".")
	if len(labels) != 4 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 3 {
			return false
		}
		if _, err := strconv.Atoi(l); err != nil {
			return false
		}
	}
	return true
}

// validKey checks an object key: 1 to MaxKeyBytes bytes of UTF-8.
func validKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty object key: %w", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("object key of %d bytes, over %d: %w", len(key), MaxKeyBytes, ErrInvalidKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("object key %q is not UTF-8: %w", key, ErrInvalidKey)
	}
	return nil
}

// storeName is the object store of a valid bucket name. Bucket names hold
// only [a-z0-9.-] and store names allow [A-Za-z0-9_-], so mapping '.' to
// '_' keeps distinct buckets in distinct stores.
func storeName(bucket string) string {
	return storePrefix + strings.ReplaceAll(bucket, ".", "_")
}

// streamName is the stream behind an object store.
func streamName(store string) string { return "OBJ_" + store }

// metaSubject is where the object store keeps the description of the
// object key (the object store's own layout: the name base64-encoded as one
// token).
func metaSubject(store, key string) string {
	return "$O." + store + ".M." + base64.URLEncoding.EncodeToString([]byte(key))
}

// metaFilter matches the descriptions of every object of a store.
func metaFilter(store string) string { return "$O." + store + ".M.>" }

// chunkSubject is where the content of the object with this id lives.
func chunkSubject(store, id string) string { return "$O." + store + ".C." + id }

// Package kv holds gureum's tables: named collections of items, each a
// string key and a JSON document, that functions reach through host calls,
// the CLI through the admin API, and a deploy creates from the manifest's
// tables. It plays the part DynamoDB plays on AWS, on JetStream KV.
//
// # Model
//
// A table NAME is the JetStream KV bucket gt_NAME (stream KV_gt_NAME),
// created with history 1, the Store's replica count and per-message TTLs
// allowed. An item is the last message on its key's subject; its revision
// is that message's stream sequence, which grows with every write to the
// table, and its modified time is the server's timestamp of the write. A
// value is stored as written, unchanged, and must be valid JSON of at most
// MaxValueBytes.
//
// # Keys
//
// A key is 1 to MaxKeyBytes bytes of UTF-8 without control characters.
// JetStream KV keys allow only [-/_=.A-Za-z0-9], so a key is encoded byte
// by byte: A-Z, a-z, 0-9, '_', '-' and '/' stand for themselves and every
// other byte becomes '=' and two upper-case hex digits ("a.b" is "a=2Eb",
// "é" is "=C3=A9"). The encoding is reversible, has one form per key, and
// keeps prefixes, but not order, so listings sort by the decoded key. Keys
// in a table's bucket that do not decode (written by other tools) are left
// out of listings.
//
// # Expiry
//
// A put with a TTL stores the item's expiry in the header Gureum-Expires
// (RFC 3339 UTC with nanoseconds, from the Store's clock) and asks the
// server to drop the message after the TTL rounded up to whole seconds
// (header Nats-TTL, at least one second). Get, List and the conditions
// treat an item past its expiry as absent even before the server removes
// it. Where the server removes an item it leaves a marker, and a delete
// writes a marker (KV-Operation: PURGE); both markers expire after a
// minute.
//
// # Conditions
//
// IfAbsent writes only where the key holds no live item: on the
// condition that the subject has no message, or, when a delete marker or an
// expired item is there, that it is still the subject's last message.
// IfRevision writes only when the item at that revision is live and is
// still the key's last write (one read, then a conditional publish).
// Deletes take the same revision condition. Both conditions are enforced by
// the server (Nats-Expected-Last-Subject-Sequence), so of writers racing on
// one key exactly one wins and the others get ErrConflict. TTLs combine with
// both conditions (a lease is an IfAbsent put with a TTL, renewed by
// IfRevision puts with a TTL).
//
// # Listing and limits
//
// A listing reads the headers of the last message of every key of the
// table through a short-lived consumer (never the values), keeps the
// smallest Limit+1 keys after StartAfter with the prefix, and then reads the
// values of the page's items alone. Its cost therefore grows with the size
// of the whole table, not of the page; paging through a large table reads
// all its keys once per page. Writes made while a listing reads may or may
// not show in it. TableInfo's Items and Bytes come from the stream's state
// and count recent markers and expired items not yet removed.
package kv

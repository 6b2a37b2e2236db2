// Package blob holds gureum's buckets: named collections of objects, each
// a key and a stream of bytes with a content type, user metadata and
// standard headers. It plays the part S3 plays on AWS: the S3-compatible
// API (package s3api), the host calls of functions and the admin API all
// reach buckets through a Store, and every change to an object is handed to
// an EventSink for bucket notifications. It is built on the JetStream
// object store.
//
// # Layout
//
// A bucket NAME is the object store gb_NAME with '.' written as '_'
// (stream OBJ_gb_NAME); bucket names hold no '_', so distinct buckets get
// distinct stores. The KV bucket gureum_blob_buckets records each bucket
// (its store and creation time) and is what Buckets lists; an object
// operation finds its bucket by the store alone, so a bucket deleted on
// another node reads as ErrNoBucket at once.
//
// An object is stored in the object store's own layout, so NATS tools read
// it: chunks on $O.STORE.C.ID and a description (the object store's JSON
// object info, a roll-up of its subject) on $O.STORE.M.KEY with KEY
// base64url-encoded. The description carries the content type and standard
// headers (Content-Type, Cache-Control, ...) and the ETag as headers, the
// user metadata as metadata, the size, the number of chunks, the SHA-256
// digest the object store defines, the modification time from the Store's
// clock, and Gureum-Chunk-Seqs, the stream sequences of the first and last
// chunk. Keys are 1 to MaxKeyBytes bytes of UTF-8; any such key is a
// valid subject token once encoded.
//
// # Writes
//
// A put streams its body into chunks of exactly 128 KiB (the last one
// shorter) under a new ID, computing the MD5 (the ETag) and SHA-256 as it
// goes, with at most 8 chunks awaiting acknowledgement: a write holds
// about a megabyte whatever the object's size. Only when the whole body is
// stored, of the size announced and matching its Content-MD5, is the
// description published, and only on the condition that the key's last
// description is still the one read before
// (Nats-Expected-Last-Subject-Sequence); then the replaced object's chunks
// are removed. A put that fails or is refused removes its own chunks and
// leaves the object there before untouched. Of writers racing on one key
// each replaces the one before it, and exactly one of several conditional
// puts (If-None-Match "*") of a free key succeeds.
//
// A delete publishes a deletion marker on the same condition, removes the
// chunks and then the marker (up to its sequence, so a put that came after
// it stays). A copy streams the source into a new object; a copy of an
// object onto itself rewrites its description alone.
//
// The event of a change (EventSink.ObjectEvent) is sent after the change
// is stored and before the method returns; its Sequencer is the stream
// sequence of the change's description message in 16 hex digits, so the
// events of one key order as the changes did. An error from the sink is
// returned, and the change stays made.
//
// # Reads
//
// A read checks the conditions (RFC 7232, as S3 applies them: If-Match and
// If-Unmodified-Since give ErrPrecondition, then If-None-Match and
// If-Modified-Since give ErrNotModified, at whole seconds), then the
// range, then streams the object one chunk at a time with direct gets
// ("the next message on the chunk subject"), holding one chunk in memory.
// A range read starts at the chunk holding its first byte: when the
// object's chunks were stored one after another (the recorded first and
// last sequence span exactly its chunks) that chunk's sequence is computed;
// when other writes interleaved with it, the reader counts chunk headers,
// without their content, up to it. A read of an object replaced or deleted
// while it is read fails with io.ErrUnexpectedEOF rather than mixing two
// objects.
//
// # Listing
//
// The object store keeps keys in no order, so List reads the description
// of every object of the bucket through a short-lived consumer and keeps
// the page (at most MaxKeys+1 entries at a time): its cost grows with the
// bucket, not the page. BucketInfo's Objects is the number of keys of the
// store and Bytes the size of its stream, descriptions included.
//
// # Multipart uploads
//
// Unfinished uploads live outside the buckets' stores, in the object store
// gureum_blob_parts, under names that group them by bucket and upload:
// the upload on $O.gureum_blob_parts.M.STORE.UPLOAD.u, part N's
// description on ...M.STORE.UPLOAD.p.N, its chunks on
// ...C.STORE.UPLOAD.ID. So a List never sees a part, and aborting an upload
// (or deleting a bucket) is one purge. A part is written as a put is and
// replaces a part of its number. CompleteUpload checks the list, streams
// the parts in order into the object (one chunk of a part in memory, plus
// the write's window), sets the ETag to the MD5 of the parts' binary MD5s
// followed by "-N", and removes the upload. Uploads older than seven days
// are dropped when a Store opens and whenever they are looked up.
//
// # Limits
//
// Nothing makes a bucket's check for emptiness and its deletion one step:
// a put that completes while its bucket is being deleted may go with it.
// Chunks of a put cut short by a crash of its node (after some chunks,
// before the description) stay in the store unreferenced.
package blob

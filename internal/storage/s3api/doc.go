// Package s3api serves gureum's buckets (internal/storage/blob) through an
// S3-compatible HTTP API, so that the AWS SDKs and the AWS CLI, pointed at
// the node's S3 listener with path-style addressing, work unchanged.
//
// # Operations
//
//	GET    /                                   ListBuckets (prefix, max-buckets, continuation-token)
//	PUT    /BUCKET                             CreateBucket (a CreateBucketConfiguration is accepted, its LocationConstraint ignored)
//	HEAD   /BUCKET                             HeadBucket
//	DELETE /BUCKET                             DeleteBucket
//	GET    /BUCKET?location                    GetBucketLocation
//	GET    /BUCKET?versioning                  GetBucketVersioning (always "never enabled")
//	GET    /BUCKET?list-type=2                 ListObjectsV2 (prefix, delimiter, max-keys, continuation-token, start-after, encoding-type=url; fetch-owner ignored)
//	GET    /BUCKET                             ListObjects (version 1: prefix, delimiter, max-keys, marker, encoding-type=url)
//	GET    /BUCKET?uploads                     ListMultipartUploads (prefix, delimiter, key-marker, upload-id-marker, max-uploads)
//	POST   /BUCKET?delete                      DeleteObjects (Quiet mode, per-key errors, at most 1,000 keys)
//	PUT    /BUCKET/KEY                         PutObject (If-None-Match: * for a conditional write)
//	PUT    /BUCKET/KEY + x-amz-copy-source     CopyObject (metadata directive COPY or REPLACE, x-amz-copy-source-if-*)
//	GET    /BUCKET/KEY                         GetObject (Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, response-* overrides)
//	HEAD   /BUCKET/KEY                         HeadObject
//	DELETE /BUCKET/KEY                         DeleteObject
//	POST   /BUCKET/KEY?uploads                 CreateMultipartUpload
//	PUT    /BUCKET/KEY?partNumber&uploadId     UploadPart, or UploadPartCopy with x-amz-copy-source (and x-amz-copy-source-range)
//	POST   /BUCKET/KEY?uploadId                CompleteMultipartUpload
//	DELETE /BUCKET/KEY?uploadId                AbortMultipartUpload
//	GET    /BUCKET/KEY?uploadId                ListParts (part-number-marker, max-parts)
//
// Anything else that names one of S3's sub-resources (?acl, ?policy,
// ?tagging, ?cors, ?lifecycle, ?versions, ?partNumber on reads, …) is
// answered 501 NotImplemented; an unknown method, 405 MethodNotAllowed.
// Responses and errors are shaped as S3 shapes them: XML in the
// 2006-03-01 namespace, quoted ETags, RFC 1123 Last-Modified,
// x-amz-request-id and x-amz-id-2 on every response, and S3's error codes
// and statuses (a HEAD error is its status alone).
//
// # Authentication and grants
//
// Requests carry AWS Signature Version 4 for service "s3" in the
// configured region, in the Authorization header or presigned in the query
// (GET, PUT and every other method). The payload may be
//   - UNSIGNED-PAYLOAD;
//   - the hex SHA-256 of the body, verified while the body streams into the
//     store (XAmzContentSHA256Mismatch otherwise);
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD and its -TRAILER form: aws-chunked
//     bodies whose chunk signatures, chained from the request's signature,
//     are each verified as the body streams (and the trailer signature);
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked with a trailing
//     checksum, which the AWS SDKs send over TLS.
//
// Whole-body checksums (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1,
// -sha256), in a header or in an aws-chunked trailer, and Content-MD5 are
// verified too (BadDigest). A body that fails any check is never stored:
// the reader the store consumes holds back the body's last bytes until
// every check has passed, and fails instead when one does not, so neither
// a new key nor the old object under an existing key is touched.
//
// Config.Lookup maps an access key id to its secret and Identity; the
// identity's Allow decides, per bucket, reads and writes (AccessDenied
// names the bucket and the missing grant), and ListBuckets lists only the
// buckets it may read. A copy needs a read grant on its source. Without a
// Lookup (the embedded default) every request is accepted, signed or not,
// and signatures are not checked. A Lookup that answers a key with an
// empty secret accepts that key unchecked; unsigned requests are looked up
// as the key id "" and refused (AccessDenied) unless Lookup("") answers so.
//
// # Differences from S3
//
//   - Path-style addressing only (/BUCKET/KEY); the Host header is not
//     read for a bucket name. Mount the handler as the whole handler of its
//     own listener, not under a path-cleaning mux: keys may hold "//", "."
//     and "..".
//   - No versioning: one version of each object; a versionId on a copy
//     source is ignored.
//   - No ACLs, bucket policies, tagging, object lock, encryption or storage
//     classes: every object is STANDARD, grants are gureum's own (function
//     permissions and the node's access key), and x-amz-acl, x-amz-tagging,
//     x-amz-storage-class and x-amz-server-side-encryption are ignored.
//   - Every bucket is in the configured region; one owner ("gureum") owns
//     everything.
//   - Continuation tokens are the base64 of the key a page starts after.
//   - Chunks of an aws-chunked body may be any size (S3 wants 8 KiB but the
//     last); checksums are verified but not stored or returned.
//   - If-Match on writes, and If-None-Match other than "*", are not
//     implemented.
//   - A single PUT or part is at most 5 GiB, an object at most
//     Config.MaxObjectSize (5 TiB by default).
package s3api

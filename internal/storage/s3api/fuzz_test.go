package s3api

import (
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/gureum/gureum/internal/storage/blob"
)

// FuzzParseRoute: routing any method, path and query never panics, and
// what it accepts is a served operation on a well-formed bucket and key.
func FuzzParseRoute(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/", ""},
		{"PUT", "/b", ""},
		{"GET", "/b", "list-type=2&prefix=a%2F&delimiter=%2F&max-keys=10&continuation-token=YQ%3D%3D&encoding-type=url"},
		{"GET", "/b", "location"},
		{"GET", "/b", "uploads&max-uploads=5&key-marker=k"},
		{"POST", "/b", "delete"},
		{"PUT", "/b/a%20b/c", "partNumber=3&uploadId=xyz"},
		{"POST", "/b/k", "uploads"},
		{"POST", "/b/k", "uploadId=u"},
		{"GET", "/b/k", "uploadId=u&max-parts=2&part-number-marker=1"},
		{"DELETE", "/b/k", "uploadId=u"},
		{"GET", "/b/k", "acl"},
		{"PATCH", "/b/k", ""},
		{"GET", "/b/%zz", "%zz"},
		{"HEAD", "/b//k/../x", "x-id=HeadObject"},
	} {
		f.Add(s[0], s[1], s[2], false)
	}
	f.Add("PUT", "/b/k", "", true)
	f.Fuzz(func(t *testing.T, method, path, query string, copySource bool) {
		rt, aerr := parseRoute(method, path, query, copySource)
		if aerr != nil {
			if aerr.code == "" || aerr.message == "" || aerr.status < 400 {
				t.Fatalf("error without code, message or status: %+v", aerr)
			}
			return
		}
		if rt.op < opListBuckets || rt.op > opListParts {
			t.Fatalf("unknown operation %d", rt.op)
		}
		if (rt.op == opListBuckets) != (rt.bucket == "") {
			t.Fatalf("operation %v with bucket %q", rt.op, rt.bucket)
		}
		if len(rt.key) > blob.MaxKeyBytes {
			t.Fatalf("key of %d bytes accepted", len(rt.key))
		}
		if rt.query == nil {
			t.Fatal("no query")
		}
		if _, err := parseListParams(rt.query, "max-keys", blob.DefaultMaxKeys); err == nil {
			p, _ := parseListParams(rt.query, "max-keys", blob.DefaultMaxKeys)
			if p.max < 0 || p.max > blob.DefaultMaxKeys {
				t.Fatalf("max-keys %d", p.max)
			}
			_ = p.enc(p.prefix)
		}
		if rt.op == opUploadPart {
			if n, err := partNumber(rt.query); err == nil && (n < 1 || n > blob.MaxParts) {
				t.Fatalf("part number %d accepted", n)
			}
		}
		if tok := rt.query.Get("continuation-token"); tok != "" {
			if after, err := decodeToken(tok); err == nil && encodeToken(after) != tok && len(after) == 0 {
				t.Fatalf("token %q decoded to nothing", tok)
			}
		}
		_ = rt.resource()
		_ = rt.op.String()
	})
}

// FuzzXMLBodies: request documents never panic the parsers, and what they
// accept is within S3's limits.
func FuzzXMLBodies(f *testing.F) {
	for _, s := range []string{
		`<Delete><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>x</VersionId></Object><Quiet>true</Quiet></Delete>`,
		`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object></Delete>`,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>0</PartNumber></Part></CompleteMultipartUpload>`,
		`<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>`,
		`<Delete><Object><Key>a</Key></Object></Delete><Delete/>`,
		`<Delete>`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if keys, _, aerr := parseDelete(b); aerr == nil {
			if len(keys) == 0 || len(keys) > maxDeleteKeys {
				t.Fatalf("%d keys accepted", len(keys))
			}
		} else if aerr.code != CodeMalformedXML {
			t.Fatalf("delete: code %s", aerr.code)
		}
		if parts, aerr := parseComplete(b); aerr == nil {
			if len(parts) == 0 || len(parts) > blob.MaxParts {
				t.Fatalf("%d parts accepted", len(parts))
			}
			for _, p := range parts {
				if p.Number < 1 || p.Number > blob.MaxParts {
					t.Fatalf("part number %d accepted", p.Number)
				}
			}
		}
		_ = parseCreateBucket(b)
	})
}

// FuzzHeaders: the parsers of request headers never panic and keep to
// their contracts.
func FuzzHeaders(f *testing.F) {
	f.Add("/bucket/key%20with%20space?versionId=null", "bytes=0-99", `"abc", "def"`, "x-amz-checksum-crc32")
	f.Add("bucket/k", "bytes=5-1", "*", "X-Amz-Checksum-Sha256")
	f.Add("%", "bytes=-5", "W/\"x\"", "x-amz-checksum-bogus")
	f.Fuzz(func(t *testing.T, copySource, copyRange, etags, checksumHeader string) {
		if b, k, aerr := parseCopySource(copySource); aerr == nil {
			if b == "" || k == "" || len(k) > blob.MaxKeyBytes {
				t.Fatalf("copy source %q parsed as %q %q", copySource, b, k)
			}
		}
		if rg, aerr := parseCopyRange(copyRange); aerr == nil {
			if rg.Start < 0 || rg.End < rg.Start {
				t.Fatalf("copy range %q parsed as %+v", copyRange, rg)
			}
			if s, e, ok := resolveRange(rg, 1000); ok && (s < 0 || e >= 1000 || e < s) {
				t.Fatalf("range %+v resolved to %d-%d", rg, s, e)
			}
		}
		_ = etagList(etags)
		hdr := http.Header{}
		hdr.Set(checksumHeader, etags)
		if cs, aerr := headerChecksum(hdr); aerr == nil && cs != nil {
			if !cs.validEncoding(cs.want) {
				t.Fatalf("checksum %q accepted", cs.want)
			}
		}
		if !utf8.ValidString(withoutToken(etags, "aws-chunked")) && utf8.ValidString(etags) {
			t.Fatalf("withoutToken broke UTF-8")
		}
	})
}

package host

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// storage is a Storage that records the operations that reach it.
type storage struct {
	mu  sync.Mutex
	ops []string
}

func (s *storage) note(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, op)
}

func (s *storage) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

func (s *storage) KVGet(_ context.Context, _ Caller, in KVKey) (KVItem, error) {
	s.note("kv.get " + in.Table + "/" + in.Key)
	if in.Key == "missing" {
		return KVItem{}, fmt.Errorf("item %s of table %s does not exist: %w", in.Key, in.Table, ErrNotFound)
	}
	return KVItem{Key: in.Key, Value: json.RawMessage(`{"n":1}`), Revision: 7}, nil
}

func (s *storage) KVPut(_ context.Context, _ Caller, in KVPutInput) (uint64, error) {
	s.note("kv.put " + in.Table + "/" + in.Key)
	if in.IfAbsent {
		return 0, fmt.Errorf("item %s exists: %w", in.Key, ErrCondition)
	}
	return 8, nil
}

func (s *storage) KVDelete(_ context.Context, _ Caller, in KVDeleteInput) error {
	s.note("kv.delete " + in.Table + "/" + in.Key)
	return nil
}

func (s *storage) KVList(_ context.Context, _ Caller, in KVListInput) (KVPage, error) {
	s.note("kv.list " + in.Table)
	return KVPage{Items: []KVItem{{Key: in.Prefix + "a", Revision: 1}}}, nil
}

func (s *storage) BlobGet(_ context.Context, _ Caller, in BlobGetInput) (BlobObject, error) {
	s.note("blob.get " + in.Bucket + "/" + in.Key)
	return BlobObject{Key: in.Key, Body: []byte("hello"), Size: 5, ETag: "abc"}, nil
}

func (s *storage) BlobPut(_ context.Context, _ Caller, in BlobPutInput) (BlobPutOutput, error) {
	s.note("blob.put " + in.Bucket + "/" + in.Key)
	return BlobPutOutput{ETag: "e", Size: int64(len(in.Body))}, nil
}

func (s *storage) BlobDelete(_ context.Context, _ Caller, in BlobKey) error {
	s.note("blob.delete " + in.Bucket + "/" + in.Key)
	return nil
}

func (s *storage) BlobList(_ context.Context, _ Caller, in BlobListInput) (BlobListOutput, error) {
	s.note("blob.list " + in.Bucket)
	return BlobListOutput{Objects: []BlobInfo{{Key: "x", Size: 1}}}, nil
}

func TestStorageGrants(t *testing.T) {
	st := &storage{}
	h := NewWith(&services{}, Options{Storage: st})
	c := Caller{Function: "api", Grants: Grants{
		Tables:  []string{"orders:rw", "audit:r"},
		Buckets: []string{"uploads:r", "thumbs:w", "*:r"},
	}}
	cases := []struct {
		op, req  string
		code     string // "" = allowed
		contains string // in the error message
	}{
		{OpKVGet, `{"table":"orders","key":"o-1"}`, "", ""},
		{OpKVPut, `{"table":"orders","key":"o-1","value":{"total":3}}`, "", ""},
		{OpKVDelete, `{"table":"orders","key":"o-1"}`, "", ""},
		{OpKVList, `{"table":"orders","prefix":"o-"}`, "", ""},
		{OpKVGet, `{"table":"audit","key":"a"}`, "", ""},
		{OpKVPut, `{"table":"audit","key":"a","value":1}`, CodeAccessDenied, "{tables: [audit:rw]}"},
		{OpKVDelete, `{"table":"audit","key":"a"}`, CodeAccessDenied, "may not write table audit"},
		{OpKVGet, `{"table":"users","key":"u"}`, CodeAccessDenied, "{tables: [users:r]}"},
		{OpBlobGet, `{"bucket":"uploads","key":"a.png"}`, "", ""},
		{OpBlobPut, `{"bucket":"uploads","key":"a.png","body":"aGk="}`, CodeAccessDenied, "{buckets: [uploads:rw]}"},
		{OpBlobPut, `{"bucket":"thumbs","key":"a.png","body":"aGk="}`, "", ""},
		{OpBlobGet, `{"bucket":"thumbs","key":"a.png"}`, "", ""}, // *:r
		{OpBlobDelete, `{"bucket":"other","key":"a"}`, CodeAccessDenied, "{buckets: [other:rw]}"},
		{OpBlobList, `{"bucket":"anything"}`, "", ""},
		{OpKVPut, `{"table":"orders","key":"o-1","value":1,"ifAbsent":true}`, CodeConditionFailed, "exists"},
		{OpKVGet, `{"table":"orders","key":"missing"}`, CodeNotFound, "does not exist"},
		// Validation comes before grants and storage.
		{OpKVGet, `{"table":"orders"}`, CodeInvalidParameter, "no item key"},
		{OpKVPut, `{"table":"orders","key":"k"}`, CodeInvalidParameter, "no value"},
		{OpKVPut, `{"table":"orders","key":"k","value":1,"ifAbsent":true,"ifRevision":3}`, CodeInvalidParameter, "exclude"},
		{OpKVPut, `{"table":"orders","key":"k","value":1,"ttlSeconds":-1}`, CodeInvalidParameter, "ttlSeconds"},
		{OpKVGet, `{"table":"orders","key":"a\u0001b"}`, CodeInvalidParameter, "control character"},
		{OpKVGet, `{"table":"orders","key":"` + strings.Repeat("k", MaxKVKeyBytes+1) + `"}`, CodeInvalidParameter, "over the limit"},
		{OpKVList, `{"table":"orders","limit":5000}`, CodeInvalidParameter, "limit"},
		{OpBlobGet, `{"bucket":"uploads","key":"a","extra":1}`, CodeInvalidParameter, "unknown field"},
		{OpBlobPut, `{"bucket":"thumbs","key":"k","body":"***"}`, CodeInvalidParameter, "malformed"},
		{OpKVPut, `{"table":"orders","key":"k","value":"` + strings.Repeat("v", MaxKVValueBytes) + `"}`, CodeTooLarge, "over the limit"},
	}
	for _, tc := range cases {
		e, _ := callErr(t, h, c, tc.op, tc.req)
		switch {
		case tc.code == "" && e != nil:
			t.Errorf("%s %.80s: %v, want success", tc.op, tc.req, e)
		case tc.code != "" && e == nil:
			t.Errorf("%s %.80s: success, want %s", tc.op, tc.req, tc.code)
		case tc.code != "" && (e.Code != tc.code || !strings.Contains(e.Message, tc.contains)):
			t.Errorf("%s %.80s: %s %q, want %s containing %q", tc.op, tc.req, e.Code, e.Message, tc.code, tc.contains)
		}
	}
	// Denied and invalid calls never reach storage.
	for _, op := range st.seen() {
		if strings.Contains(op, "audit") && op != "kv.get audit/a" || strings.Contains(op, "users") || strings.Contains(op, "other") || strings.Contains(op, "uploads/a.png") && strings.HasPrefix(op, "blob.put") {
			t.Errorf("denied call reached storage: %s", op)
		}
	}
}

func TestStorageUnavailableWithoutStorage(t *testing.T) {
	h := New(&services{})
	e, _ := callErr(t, h, Caller{Function: "f", Grants: Grants{Tables: []string{"*:rw"}}}, OpKVGet, `{"table":"t","key":"k"}`)
	if e == nil || e.Code != CodeUnavailable {
		t.Fatalf("kv.get without storage: %v, want Unavailable", e)
	}
}

func TestHostAllowed(t *testing.T) {
	cases := []struct {
		grants []string
		url    string
		want   bool
	}{
		{[]string{"api.example.com"}, "https://api.example.com/x", true},
		{[]string{"api.example.com"}, "http://api.example.com:8080/x", true},
		{[]string{"api.example.com"}, "https://API.Example.com./x", true},
		{[]string{"api.example.com"}, "https://example.com/x", false},
		{[]string{"api.example.com"}, "https://api.example.com.evil.net/x", false},
		{[]string{"api.example.com:8443"}, "https://api.example.com:8443/", true},
		{[]string{"api.example.com:8443"}, "https://api.example.com/", false},
		{[]string{"api.example.com:443"}, "https://api.example.com/", true},
		{[]string{"*.example.com"}, "https://a.b.example.com/", true},
		{[]string{"*.example.com"}, "https://example.com/", false},
		{[]string{"*.example.com"}, "https://badexample.com/", false},
		{[]string{"*"}, "http://10.0.0.1:9/", true},
		{[]string{"[::1]:8080"}, "http://[::1]:8080/", true},
		{[]string{"::1"}, "http://[::1]:8080/", true},
		{nil, "https://api.example.com/", false},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(tc.grants, u); got != tc.want {
			t.Errorf("hostAllowed(%v, %s) = %v, want %v", tc.grants, tc.url, got, tc.want)
		}
	}
}

func TestFetch(t *testing.T) {
	var gotTrace, gotHeader string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			gotTrace = r.Header.Get("traceparent")
			gotHeader = r.Header.Get("X-Api-Key")
			gotBody, _ = io.ReadAll(r.Body)
			w.Header().Set("X-Answer", "42")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, "made")
		case "/hop":
			http.Redirect(w, r, "/echo", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://localhost:1/elsewhere", http.StatusFound)
		case "/big":
			w.Write(make([]byte, MaxHTTPBodyBytes+10))
		}
	}))
	defer srv.Close()
	h := New(&services{})
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	c := Caller{Function: "caller", TraceParent: tp, Grants: Grants{HTTP: []string{"127.0.0.1"}}}

	e, answer := callErr(t, h, c, OpHTTP, fmt.Sprintf(`{"method":"POST","url":%q,"headers":{"X-Api-Key":["k1"],"Host":["evil"]},"body":"cGF5bG9hZA=="}`, srv.URL+"/echo"))
	if e != nil {
		t.Fatalf("http POST: %v", e)
	}
	var out HTTPOutput
	if err := json.Unmarshal([]byte(answer), &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != http.StatusCreated || string(out.Body) != "made" || out.Headers["X-Answer"][0] != "42" {
		t.Errorf("answer %+v", out)
	}
	if gotTrace != tp || gotHeader != "k1" || string(gotBody) != "payload" {
		t.Errorf("server saw traceparent %q, X-Api-Key %q, body %q", gotTrace, gotHeader, gotBody)
	}

	// A redirect to a granted host is followed; the answer names the final URL.
	if e, answer = callErr(t, h, c, OpHTTP, fmt.Sprintf(`{"url":%q}`, srv.URL+"/hop")); e != nil {
		t.Fatalf("redirect: %v", e)
	}
	if err := json.Unmarshal([]byte(answer), &out); err != nil || !strings.HasSuffix(out.URL, "/echo") {
		t.Errorf("redirect answer %+v (%v)", out, err)
	}

	denials := []struct{ req, code, contains string }{
		{fmt.Sprintf(`{"url":%q}`, srv.URL+"/away"), CodeAccessDenied, "{http: [localhost]}"},
		{`{"url":"https://api.example.com/"}`, CodeAccessDenied, "{http: [api.example.com]}"},
		{`{"url":"ftp://127.0.0.1/"}`, CodeInvalidParameter, "not an http or https URL"},
		{`{"url":"http://u:p@127.0.0.1/"}`, CodeInvalidParameter, "credentials"},
		{fmt.Sprintf(`{"url":%q,"method":"get me"}`, srv.URL), CodeInvalidParameter, "not an HTTP method"},
		{fmt.Sprintf(`{"url":%q,"headers":{"X":["a\r\nB: c"]}}`, srv.URL), CodeInvalidParameter, "line break"},
		{fmt.Sprintf(`{"url":%q}`, srv.URL+"/big"), CodeTooLarge, "over the limit"},
		{`{"url":"http://127.0.0.1:1/"}`, CodeUnavailable, "127.0.0.1:1"},
	}
	for _, d := range denials {
		e, _ := callErr(t, h, c, OpHTTP, d.req)
		if e == nil || e.Code != d.code || !strings.Contains(e.Message, d.contains) {
			t.Errorf("http %s: %v, want %s containing %q", d.req, e, d.code, d.contains)
		}
	}
}

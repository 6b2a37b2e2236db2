package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCall decodes arbitrary requests: no panic, a JSON answer on success,
// an *Error with a known code on failure, and nothing reaches the node
// unless it passed every check.
func FuzzCall(f *testing.F) {
	for _, s := range []string{
		`{"topic":"t","message":"m","subject":"s","attributes":{"a":{"dataType":"String","stringValue":"v"}}}`,
		`{"topic":"t","message":"m","attributes":{"a":{"dataType":"Binary","binaryValue":"AAEC"},"b":{"dataType":"Number.x","stringValue":"1e3"}}}`,
		`{"queue":"q","body":"b","delaySeconds":5}`,
		`{"queue":"q","body":"b","attributes":{"AWS.a":{"dataType":"String","stringValue":"v"}}}`,
		`{"topic":"denied","message":"m"}`,
		`{"topic":"t","message":"m"} {}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add(OpPublish, []byte(s))
		f.Add(OpSend, []byte(s))
	}
	f.Fuzz(func(t *testing.T, op string, req []byte) {
		svc := &services{}
		b := New(svc).Bind(Caller{Function: "fz", Grants: Grants{Publish: []string{"t"}, Send: []string{"*"}}})
		resp, err := b.Call(context.Background(), op, req)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || httpStatus(e.Code) == 500 || e.Message == "" {
				t.Fatalf("error %#v", err)
			}
			if svc.calls() != 0 {
				t.Fatalf("a failed call reached the node: %v", err)
			}
			return
		}
		var out Output
		if json.Unmarshal(resp, &out) != nil || out.MessageID == "" || svc.calls() != 1 {
			t.Fatalf("answer %q after %d calls", resp, svc.calls())
		}
		if len(svc.publish) == 1 {
			in := svc.publish[0]
			if in.Topic != "t" || in.Message == "" || checkPublish(in) != nil {
				t.Fatalf("an invalid publish reached the node: %+v", in)
			}
		}
	})
}

// FuzzHandler sends arbitrary paths, headers and bodies to the HTTP API: no
// panic, and every answer is a success or an error document.
func FuzzHandler(f *testing.F) {
	good := "Bearer " + Token(testKey, "resize", "3")
	f.Add("publish", good, "", `{"topic":"order-events","message":"m"}`)
	f.Add("send", good, "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1", `{"queue":"q","body":"b"}`)
	f.Add("publish/x", "Bearer x", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", `{}`)
	f.Add("", "", "", "")
	svc := &services{}
	grants := func(_ context.Context, fn, version string) (Grants, error) {
		return Grants{Publish: []string{"order-events"}}, nil
	}
	hd := New(svc).Handler(TokenResolver(testKey, grants))
	f.Fuzz(func(t *testing.T, op, auth, trace, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.Path = PathPrefix + op
		req.Header["Authorization"] = []string{auth}
		req.Header["X-Amzn-Trace-Id"] = []string{trace}
		req.Header["Traceparent"] = []string{trace}
		w := httptest.NewRecorder()
		hd.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			var out Output
			if json.Unmarshal(w.Body.Bytes(), &out) != nil || out.MessageID == "" {
				t.Fatalf("200 with %q", w.Body.Bytes())
			}
			return
		}
		var e Error
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || w.Code == 500 {
			t.Fatalf("%d with %q", w.Code, w.Body.Bytes())
		}
	})
}

// FuzzVerifyToken: no panic, and a token verifies only as what it was made
// from.
func FuzzVerifyToken(f *testing.F) {
	f.Add(Token(testKey, "resize", "3"))
	f.Add("gh1.AAAA.BBBB")
	f.Add("gh1..")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		fn, ver, err := VerifyToken(testKey, tok)
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("error %v does not wrap ErrUnauthorized", err)
			}
			return
		}
		// Only a token this key made verifies, and making it again for the
		// same names gives the same token up to base64 slack.
		again := Token(testKey, fn, ver)
		if again != tok {
			f2, v2, err := VerifyToken(testKey, again)
			if err != nil || f2 != fn || v2 != ver {
				t.Fatalf("%q verified as %q %q, whose token %q does not", tok, fn, ver, again)
			}
		}
	})
}

// FuzzTraceParent: no panic, and whatever comes out is a valid traceparent.
func FuzzTraceParent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Add("Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1")
	f.Add("Root=;Parent=;;=")
	f.Fuzz(func(t *testing.T, h string) {
		tp := TraceParent(h)
		if tp != "" && (!isTraceParent(tp) || TraceParent(tp) != tp) {
			t.Fatalf("TraceParent(%q) = %q, not a valid traceparent", h, tp)
		}
		if tp != "" && !bytes.Contains([]byte(h), []byte(tp[36:52])) {
			t.Fatalf("TraceParent(%q) = %q invents a parent", h, tp)
		}
	})
}

// FuzzStorageCall decodes arbitrary storage requests: no panic, an *Error
// with a known code on failure, and a call reaches storage only with a valid
// key and a grant that allows it.
func FuzzStorageCall(f *testing.F) {
	for _, s := range []struct{ op, req string }{
		{OpKVGet, `{"table":"orders","key":"o-1"}`},
		{OpKVPut, `{"table":"orders","key":"o-1","value":{"a":[1,2]},"ttlSeconds":60}`},
		{OpKVPut, `{"table":"audit","key":"x","value":1,"ifRevision":3}`},
		{OpKVList, `{"table":"orders","prefix":"o-","limit":10,"keysOnly":true}`},
		{OpKVDelete, `{"table":"orders","key":"o-1","ifRevision":2}`},
		{OpBlobGet, `{"bucket":"uploads","key":"a/b.png","range":"bytes=0-9"}`},
		{OpBlobPut, `{"bucket":"thumbs","key":"a","body":"aGk=","metadata":{"k":"v"}}`},
		{OpBlobList, `{"bucket":"uploads","prefix":"a/","delimiter":"/","maxKeys":5}`},
		{OpBlobDelete, `{"bucket":"uploads","key":"a"}`},
		{OpHTTP, `{"url":"ftp://x"}`},
	} {
		f.Add(s.op, []byte(s.req))
	}
	f.Fuzz(func(t *testing.T, op string, req []byte) {
		if op == OpHTTP {
			return // reaches the network; covered by TestFetch
		}
		st := &storage{}
		b := NewWith(&services{}, Options{Storage: st}).Bind(Caller{Function: "fz", Grants: Grants{
			Tables: []string{"orders:rw", "audit:r"}, Buckets: []string{"uploads:r", "thumbs:w"},
		}})
		_, err := b.Call(context.Background(), op, req)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || httpStatus(e.Code) == 500 || e.Message == "" {
				t.Fatalf("error %#v", err)
			}
		}
		for _, seen := range st.seen() {
			verb, target, _ := strings.Cut(seen, " ")
			name, _, _ := strings.Cut(target, "/")
			write := strings.HasSuffix(verb, ".put") || strings.HasSuffix(verb, ".delete")
			grants := []string{"orders:rw", "audit:r"}
			if strings.HasPrefix(verb, "blob.") {
				grants = []string{"uploads:r", "thumbs:w"}
			}
			if !modeAllowed(grants, name, write) {
				t.Fatalf("ungranted call reached storage: %s", seen)
			}
		}
	})
}

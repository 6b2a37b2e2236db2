package sigv4_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/sigv4"
)

// FuzzParseAuthorization: parsing never panics, and what it accepts is
// well formed.
func FuzzParseAuthorization(f *testing.F) {
	sig := strings.Repeat("0f", 32)
	for _, s := range []string{
		"",
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/lambda/aws4_request,SignedHeaders=host,Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=",
		"AWS4-HMAC-SHA256 ,,,=,=",
		"AWS4-HMAC-SHA256 Credential=a=b=c",
		"Bearer token",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := sigv4.ParseAuthorization(header)
		if err != nil {
			if a != nil {
				t.Fatalf("authorization %+v alongside error %v", a, err)
			}
			var se *sigv4.Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Fatalf("error %v is not an *Error with a message", err)
			}
			return
		}
		if a.AccessKeyID == "" || len(a.Date) != 8 || a.Region == "" || a.Service == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted %q as %+v", header, a)
		}
	})
}

// FuzzVerify: verifying arbitrary headers and query strings never panics
// and never succeeds without the secret.
func FuzzVerify(f *testing.F) {
	sig := strings.Repeat("0f", 32)
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature="+sig, "20240102T000000Z", "a=b&c")
	f.Add("", "", "X-Amz-Signature="+sig+"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20240102T000000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=60")
	f.Add("", "", "X-Amz-Signature&%zz=%")
	v := &sigv4.Verifier{
		Service: "lambda",
		Region:  "us-east-1",
		Secret:  func(id string) (string, bool) { return "secret", id == "AKID" },
		Now:     func() time.Time { return time.Date(2024, 1, 2, 0, 5, 0, 0, time.UTC) },
	}
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		r := httptest.NewRequest("POST", "http://example.com/2015-03-31/functions/f/invocations", strings.NewReader("{}"))
		r.URL.RawQuery = query
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		if a, err := v.Verify(r, sigv4.PayloadHash([]byte("{}"))); err == nil {
			t.Fatalf("verified a fuzzed request: %+v", a)
		}
	})
}

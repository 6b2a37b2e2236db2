package sigv4_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gureum/gureum/internal/sigv4"
)

var creds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

func secrets(id string) (string, bool) {
	if id == creds.AccessKeyID {
		return creds.SecretAccessKey, true
	}
	return "", false
}

// verifyServer answers each request with the outcome of verifying it, after
// hashing the body it read (unless hashBody is false, as for a stream).
type verifyServer struct {
	*httptest.Server
	v        *sigv4.Verifier
	hashBody bool
	errs     chan error
}

func newVerifyServer(t *testing.T, v *sigv4.Verifier, hashBody bool) *verifyServer {
	t.Helper()
	s := &verifyServer{v: v, hashBody: hashBody, errs: make(chan error, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hash := ""
		if s.hashBody {
			hash = sigv4.PayloadHash(body)
		}
		_, err := s.v.Verify(r, hash)
		s.errs <- err
	}))
	t.Cleanup(s.Close)
	return s
}

// send sends req and returns the verifier's verdict.
func (s *verifyServer) send(t *testing.T, req *http.Request) error {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return <-s.errs
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func sign(t *testing.T, req *http.Request, c aws.Credentials, payloadHash, service, region string, at time.Time, opts ...func(*v4.SignerOptions)) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, payloadHash, service, region, at, opts...); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAgainstSDKSigner(t *testing.T) {
	lambda := newVerifyServer(t, &sigv4.Verifier{Service: "lambda", Region: "us-east-1", Secret: secrets}, true)
	s3 := newVerifyServer(t, &sigv4.Verifier{Service: "s3", Region: "us-east-1", Secret: secrets, PathAsSent: true}, false)
	body := []byte(`{"op":"echo","msg":"héllo  world"}`)
	now := time.Now()

	t.Run("body hashed by the server", func(t *testing.T) {
		req := newRequest(t, "POST", lambda.URL+"/2015-03-31/functions/echo/invocations", body)
		req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
		sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
		if err := lambda.send(t, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("escaped path and query string", func(t *testing.T) {
		u := lambda.URL + "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aecho/invocations" +
			"?Qualifier=%24LATEST&b=a%2Fb&a=x%20y&a=w&empty="
		req := newRequest(t, "POST", u, body)
		sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
		if err := lambda.send(t, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty body and multi-valued headers", func(t *testing.T) {
		req := newRequest(t, "GET", lambda.URL+"/2015-03-31/functions/", nil)
		req.Header.Add("X-Custom", "  one   two ")
		req.Header.Add("X-Custom", "three")
		sign(t, req, creds, sigv4.EmptyPayloadHash, "lambda", "us-east-1", now)
		if err := lambda.send(t, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unsigned payload header", func(t *testing.T) {
		req := newRequest(t, "PUT", s3.URL+"/bucket/some%20key/with%2Fslash.txt?x-id=PutObject", []byte("object bytes"))
		req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		sign(t, req, creds, sigv4.UnsignedPayload, "s3", "us-east-1", now, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := s3.send(t, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("signed payload header without reading the body", func(t *testing.T) {
		req := newRequest(t, "PUT", s3.URL+"/bucket/key", []byte("object bytes"))
		h := sigv4.PayloadHash([]byte("object bytes"))
		req.Header.Set("X-Amz-Content-Sha256", h)
		sign(t, req, creds, h, "s3", "us-east-1", now, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := s3.send(t, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("presigned URL", func(t *testing.T) {
		req := newRequest(t, "GET", s3.URL+"/bucket/photos/cat.jpg?X-Amz-Expires=300&response-content-type=image%2Fjpeg", nil)
		signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sigv4.UnsignedPayload, "s3", "us-east-1", now,
			func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err != nil {
			t.Fatal(err)
		}
		preq := newRequest(t, "GET", signed, nil)
		for k, v := range hdr {
			if k != "Host" {
				preq.Header[k] = v
			}
		}
		if err := s3.send(t, preq); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyRefuses(t *testing.T) {
	lambda := newVerifyServer(t, &sigv4.Verifier{Service: "lambda", Region: "us-east-1", Secret: secrets}, true)
	body := []byte(`{"a":1}`)
	url := lambda.URL + "/2015-03-31/functions/echo/invocations?Qualifier=1"
	now := time.Now()
	cases := []struct {
		name    string
		prepare func(t *testing.T) *http.Request
		want    error
		message string
	}{
		{"no signature", func(t *testing.T) *http.Request {
			return newRequest(t, "POST", url, body)
		}, sigv4.ErrMissing, "Missing Authentication Token"},
		{"wrong secret", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "nope"}, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			return req
		}, sigv4.ErrMismatch, "The request signature we calculated does not match the signature you provided."},
		{"unknown key", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, aws.Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: creds.SecretAccessKey}, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			return req
		}, sigv4.ErrUnknownKey, "The security token included in the request is invalid."},
		{"body changed after signing", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, []byte(`{"a":2}`))
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			return req
		}, sigv4.ErrMismatch, "does not match"},
		{"query changed after signing", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			req.URL.RawQuery = "Qualifier=2"
			return req
		}, sigv4.ErrMismatch, "does not match"},
		{"signed header changed", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			req.Header.Set("X-Amz-Invocation-Type", "DryRun")
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
			return req
		}, sigv4.ErrMismatch, "does not match"},
		{"expired", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now.Add(-20*time.Minute))
			return req
		}, sigv4.ErrExpired, "Signature expired: "},
		{"from the future", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now.Add(20*time.Minute))
			return req
		}, sigv4.ErrExpired, "Signature not yet current: "},
		{"another region", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "eu-west-1", now)
			return req
		}, sigv4.ErrScope, "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{"another service", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			sign(t, req, creds, sigv4.PayloadHash(body), "s3", "us-east-1", now)
			return req
		}, sigv4.ErrScope, "Credential should be scoped to correct service: 'lambda'."},
		{"content hash header does not match the body", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, []byte(`{"a":2}`))
			req.Header.Set("X-Amz-Content-Sha256", sigv4.PayloadHash(body))
			sign(t, req, creds, sigv4.PayloadHash(body), "lambda", "us-east-1", now)
			return req
		}, sigv4.ErrContentHash, "x-amz-content-sha256"},
		{"malformed header", func(t *testing.T) *http.Request {
			req := newRequest(t, "POST", url, body)
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host")
			return req
		}, sigv4.ErrMalformed, "requires 'Signature' parameter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := lambda.send(t, c.prepare(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			var se *sigv4.Error
			if !errors.As(err, &se) || !strings.Contains(se.Message, c.message) {
				t.Fatalf("message %q, want it to contain %q", err, c.message)
			}
		})
	}
}

func TestPresignedURLExpires(t *testing.T) {
	signedAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := signedAt.Add(10 * time.Minute)
	s3 := newVerifyServer(t, &sigv4.Verifier{Service: "s3", Region: "us-east-1", Secret: secrets, PathAsSent: true, Now: func() time.Time { return now }}, false)
	req := newRequest(t, "GET", s3.URL+"/bucket/key?X-Amz-Expires=300", nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sigv4.UnsignedPayload, "s3", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.send(t, newRequest(t, "GET", signed, nil)); !errors.Is(err, sigv4.ErrExpired) {
		t.Fatalf("presigned URL 10 minutes after a 5 minute expiry: %v", err)
	}
	now = signedAt.Add(4 * time.Minute)
	if err := s3.send(t, newRequest(t, "GET", signed, nil)); err != nil {
		t.Fatalf("presigned URL within its expiry: %v", err)
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	a, err := sigv4.ParseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request,SignedHeaders=host;x-amz-date, Signature=" + sig)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID != "AKID" || a.Date != "20240102" || a.Region != "eu-west-1" || a.Service != "s3" ||
		strings.Join(a.SignedHeaders, ";") != "host;x-amz-date" || a.Signature != sig || a.Scope() != "20240102/eu-west-1/s3/aws4_request" {
		t.Fatalf("parsed %+v", a)
	}
	for _, h := range []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-ECDSA-P256-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/2024012/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws5_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=Host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host;;a, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=xyz",
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig + ", Extra=1",
	} {
		if a, err := sigv4.ParseAuthorization(h); err == nil {
			t.Errorf("ParseAuthorization(%q) = %+v, want an error", h, a)
		} else if !errors.Is(err, sigv4.ErrMalformed) && !errors.Is(err, sigv4.ErrMissing) {
			t.Errorf("ParseAuthorization(%q): %v is neither ErrMalformed nor ErrMissing", h, err)
		}
	}
}

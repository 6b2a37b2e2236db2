package gureum

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// gatewayEvent is an event as gureum's gateway writes it.
const gatewayEvent = `{"version":"2.0","routeKey":"GET /hello/{name}","rawPath":"/hello/w%C3%B6rld","rawQueryString":"a=1&b=2",` +
	`"cookies":["s=1","t=2"],"headers":{"accept":"*/*","host":"localhost:8080","user-agent":"curl/8.5.0","x-forwarded-for":"127.0.0.1"},` +
	`"queryStringParameters":{"a":"1","b":"2"},"requestContext":{"accountId":"000000000000","apiId":"local","domainName":"localhost",` +
	`"domainPrefix":"localhost","http":{"method":"GET","path":"/hello/wörld","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"curl/8.5.0"},` +
	`"requestId":"8f5e1c2a-1d7b-4c1e-9a53-2b9f4c6d7e80","routeKey":"GET /hello/{name}","stage":"$default","time":"24/Nov/2026:11:10:33 +0000",` +
	`"timeEpoch":1795518633000},"pathParameters":{"name":"wörld"},"body":"{\"a\":\"\\u00e9\\ud83d\\ude00\"}","isBase64Encoded":false}`

// decodeSeeds are events the decoder takes or leaves to encoding/json.
var decodeSeeds = []string{
	gatewayEvent,
	`{}`,
	` { "rawPath" : "/x" , "headers" : { } , "cookies" : [ ] } `,
	`{"headers":null,"cookies":null,"requestContext":null,"body":null,"isBase64Encoded":null}`,
	`{"headers":{"a":null},"cookies":[null,"x"],"requestContext":{"timeEpoch":-12,"authorizer":null,"authentication":null}}`,
	`{"RawPath":"/case"}`,
	`{"rawpath":"/case","requestContext":{"HTTP":{"METHOD":"GET"}}}`,
	`{"rawPath":"/a","rawPath":"/b"}`,
	`{"headers":{"a":"1"},"headers":{"b":"2"}}`,
	`{"headers":{"a":"1","a":"2"}}`,
	`{"unknown":{"deep":[1,2.5e3,-0.1,true,false,null,"s\n"]},"rawPath":"/u"}`,
	`{"rawPath":"\u0041\ud800x\"\\\/\b\f\n\r\t"}`,
	"{\"rawPath\":\"\xff\xfe ok\"}",
	"{\"raw\xffPath\":\"x\"}",
	`{"ra\u0077Path":"/escaped-key"}`,
	`{"rawPath":1}`,
	`{"requestContext":{"timeEpoch":1.5}}`,
	`{"requestContext":{"timeEpoch":1e3}}`,
	`{"requestContext":{"timeEpoch":99999999999999999999}}`,
	`{"requestContext":{"timeEpoch":01}}`,
	`{"requestContext":{"authorizer":{"jwt":{"claims":{"sub":"x"},"scopes":["a"]}}}}`,
	`{"requestContext":{"authorizer":{"jwt":null,"iam":null,"lambda":null}}}`,
	`{"requestContext":{"authorizer":{}}}`,
	`{"requestContext":{"authorizer":{"lambda":{"k":1}}}}`,
	`{"requestContext":{"authorizer":{"iam":{"accessKey":"a","accountId":"b","callerId":"c","cognitoIdentity":{"amr":["x"],"identityId":"i","identityPoolId":"p"},"principalOrgId":"o","userArn":"u","userId":"v"}}}}`,
	`{"requestContext":{"authentication":{"clientCert":{"validity":{"notAfter":"x"}}}}}`,
	`{"requestContext":{"authentication":{"clientCert":{"clientCertPem":"p","issuerDN":"i","serialNumber":"s","subjectDN":"d","validity":{"notAfter":"x","notBefore":"y"}}}}}`,
	`{"isBase64Encoded":true,"body":"aGk="}`,
	`{"rawPath":"/x"} trailing`,
	`{"rawPath":"/x"} {}`,
	`{"rawPath":"/x",}`,
	`{"cookies":["a",]}`,
	`{"rawPath":"tab	inside"}`,
	`{"unknown":[1,}`,
	`{"unknown":-}`,
	`{"unknown":"\x"}`,
	`{"unknown":tru}`,
	`null`,
	`[]`,
	`"x"`,
	``,
	`{`,
	`{"rawPath":"/x"`,
}

// decodeLikeUnmarshal decodes data with the fast decoder, and with
// encoding/json when the fast decoder declines, as the handler does.
func decodeLikeUnmarshal(data []byte) (events.APIGatewayV2HTTPRequest, bool, error) {
	var req events.APIGatewayV2HTTPRequest
	if decodeAPIGatewayV2HTTPRequest(data, &req) {
		return req, true, nil
	}
	req = events.APIGatewayV2HTTPRequest{}
	err := json.Unmarshal(data, &req)
	return req, false, err
}

func checkDecode(t *testing.T, data []byte) bool {
	t.Helper()
	var fast events.APIGatewayV2HTTPRequest
	if !decodeAPIGatewayV2HTTPRequest(data, &fast) {
		return false
	}
	var want events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast decoder took %q, which encoding/json rejects: %v", data, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("decoding %q:\n fast %#v\n json %#v", data, fast, want)
	}
	return true
}

func TestAPIGatewayV2Decode(t *testing.T) {
	took := 0
	for _, s := range decodeSeeds {
		if checkDecode(t, []byte(s)) {
			took++
		}
	}
	marshaled, err := json.Marshal(events.APIGatewayV2HTTPRequest{
		RouteKey: "GET /orders/{id}", RawPath: "/orders/7",
		Headers:        map[string]string{"accept": "application/json"},
		PathParameters: map[string]string{"id": "7"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "r", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/orders/7"},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "u"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkDecode(t, marshaled)
	// The gateway's own events, and encoding/json's, must take the fast path.
	for _, s := range []string{string(marshaled), gatewayEvent, `{}`, decodeSeeds[2], decodeSeeds[3], decodeSeeds[4], decodeSeeds[10], decodeSeeds[11], decodeSeeds[12]} {
		if _, fast, _ := decodeLikeUnmarshal([]byte(s)); !fast {
			t.Errorf("fast decoder declined %q", s)
		}
	}
	for _, s := range []string{`{"RawPath":"/case"}`, `{"rawPath":"/a","rawPath":"/b"}`, `{"rawPath":1}`, `{"rawPath":"/x"} {}`} {
		if _, fast, _ := decodeLikeUnmarshal([]byte(s)); fast {
			t.Errorf("fast decoder took %q", s)
		}
	}
	if took < 10 {
		t.Errorf("fast decoder took only %d seeds", took)
	}
}

// FuzzAPIGatewayV2Decode holds the fast decoder to encoding/json: whatever
// it takes, it decodes to the same value json.Unmarshal gives.
func FuzzAPIGatewayV2Decode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

func TestAPIGatewayV2ResponseEncode(t *testing.T) {
	for _, resp := range []events.APIGatewayV2HTTPResponse{
		{},
		{StatusCode: 200, Body: "hello"},
		{StatusCode: -1, Headers: map[string]string{}, MultiValueHeaders: map[string][]string{}, Cookies: []string{}},
		{
			StatusCode:        404,
			Headers:           map[string]string{"Content-Type": "application/json", "X-B": "<&>", "A": "\"q\" \\ \x00\x1f\x7f\b\f\n\r\t"},
			MultiValueHeaders: map[string][]string{"set-x": {"1", "2"}, "nil": nil, "empty": {}},
			Body:              "{\"k\":\"é 😀 \u2028\u2029\"} \xff\xc3 end",
			IsBase64Encoded:   true,
			Cookies:           []string{"a=1", "b=\xe2\x80"},
		},
		{Headers: map[string]string{"only": "one"}},
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(resp); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendAPIGatewayV2HTTPResponse(nil, &resp); !bytes.Equal(got, want) {
			t.Errorf("encoding %#v:\n got %s\nwant %s", resp, got, want)
		}
	}
}

func FuzzAPIGatewayV2ResponseEncode(f *testing.F) {
	f.Add(200, "k", "v", "body", "cookie", false)
	f.Add(0, "\xff", "\u2028<", "\x00\"\\", "", true)
	f.Fuzz(func(t *testing.T, status int, k, v, body, cookie string, b64 bool) {
		resp := events.APIGatewayV2HTTPResponse{
			StatusCode: status, Headers: map[string]string{k: v, v: k}, MultiValueHeaders: map[string][]string{k: {v, body}},
			Body: body, IsBase64Encoded: b64, Cookies: []string{cookie},
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(resp); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendAPIGatewayV2HTTPResponse(nil, &resp); !bytes.Equal(got, want) {
			t.Errorf("got %s\nwant %s", got, want)
		}
	})
}

// TestAPIGatewayHandlersMatchLambda checks every API Gateway handler form,
// which the SDK calls without reflection, against lambda.NewHandler.
func TestAPIGatewayHandlersMatchLambda(t *testing.T) {
	type req = events.APIGatewayV2HTTPRequest
	type resp = events.APIGatewayV2HTTPResponse
	answer := func(r *req) resp {
		if r == nil {
			return resp{Body: "nil event"}
		}
		if r.RawPath == "/fail" {
			return resp{StatusCode: -1}
		}
		return resp{StatusCode: 200, Headers: map[string]string{"x-path": r.RawPath, "x-n": r.Headers["n"]}, Body: "<" + r.Body + ">", Cookies: r.Cookies}
	}
	fail := func(r resp) error {
		if r.StatusCode < 0 {
			return &notFound{"x"}
		}
		return nil
	}
	nilFor := func(r *req) bool { return r == nil || r.RawPath == "/nil" }
	type named func(context.Context, req) (resp, error)
	handlers := map[string]any{
		"ctx, T -> U": func(_ context.Context, r req) (resp, error) { a := answer(&r); return a, fail(a) },
		"ctx, *T -> U": func(_ context.Context, r *req) (resp, error) {
			if r == nil {
				return resp{Body: "nil event"}, nil
			}
			a := answer(r)
			return a, fail(a)
		},
		"ctx, T -> *U": func(_ context.Context, r req) (*resp, error) {
			if nilFor(&r) {
				return nil, nil
			}
			a := answer(&r)
			return &a, fail(a)
		},
		"ctx, *T -> *U": func(_ context.Context, r *req) (*resp, error) {
			if r == nil || nilFor(r) {
				return nil, nil
			}
			a := answer(r)
			return &a, fail(a)
		},
		"T -> U":  func(r req) (resp, error) { a := answer(&r); return a, fail(a) },
		"*T -> U": func(r *req) (resp, error) { a := answer(r); return a, fail(a) },
		"T -> *U": func(r req) (*resp, error) { a := answer(&r); return &a, fail(a) },
		"*T -> *U": func(r *req) (*resp, error) {
			if r == nil {
				return nil, nil
			}
			a := answer(r)
			return &a, fail(a)
		},
		"named":          named(func(_ context.Context, r req) (resp, error) { a := answer(&r); return a, fail(a) }),
		"T -> any":       func(r req) (any, error) { return answer(&r), nil },
		"T -> error":     func(r req) error { return fail(answer(&r)) },
		"ctx, *T -> err": func(_ context.Context, r *req) error { return nil },
	}
	payloads := append([]string{
		`{"rawPath":"/nil"}`,
		`{"rawPath":"/fail"}`,
		`{"rawPath":"/p","headers":{"n":"1"},"body":"b","cookies":["c"]}`,
	}, decodeSeeds...)
	ctx := context.Background()
	for name, h := range handlers {
		ours, theirs := newHandler(h), lambda.NewHandler(h)
		for _, p := range payloads {
			got, gotErr := ours.Invoke(ctx, []byte(p))
			want, wantErr := theirs.Invoke(ctx, []byte(p))
			if string(got) != string(want) {
				t.Errorf("%s on %q: response %q, lambda %q", name, p, got, want)
			}
			if errString(gotErr) != errString(wantErr) {
				t.Errorf("%s on %q: error %v, lambda %v", name, p, gotErr, wantErr)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

func BenchmarkAPIGatewayV2Decode(b *testing.B) {
	data := []byte(gatewayEvent)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req events.APIGatewayV2HTTPRequest
			if !decodeAPIGatewayV2HTTPRequest(data, &req) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(data, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package gateway

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

func FuzzResponseMapping(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":200,"headers":{"a":"b"},"multiValueHeaders":{"c":["d","e"]},"cookies":["x=1"],"body":"aGk=","isBase64Encoded":true}`,
		`{"statusCode":204}`,
		`{"statusCode":null}`,
		`{"statusCode":2e2}`,
		`{"statusCode":-1}`,
		`{"statusCode":200,"headers":{"Content-Length":"5"},"body":"hi"}`,
		`"hello"`, `42`, `null`, `[1,2]`, `{}`, ` {"a":1} `, `{"a":`, ``, "\xff",
		`{"StatusCode":200}`,
		`{"statusCode":200,"headers":{"x":"\u0000"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`"a\u00e9\ud83d\ude00\ud800x\/\"\\\b\f\n\r\t"`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		// The string decoder agrees with encoding/json.
		if p := bytes.TrimSpace(payload); len(p) > 1 && p[0] == '"' && json.Valid(p) && utf8.Valid(p) {
			var want string
			if err := json.Unmarshal(p, &want); err != nil {
				t.Fatal(err)
			}
			if got := unescapeJSON(nil, p[1:len(p)-1]); string(got) != want {
				t.Fatalf("unescape %q = %q, want %q", p, got, want)
			}
		}
		resp, err := parseResponse(payload)
		if err != nil {
			if json.Valid(payload) && !isJSONObject(payload) {
				t.Fatalf("valid non-object JSON rejected: %v", err)
			}
			w := httptest.NewRecorder()
			writeError(w, CodeInvalidFunctionResponse, "id")
			if w.Code != 502 {
				t.Fatalf("status %d", w.Code)
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("invalid JSON accepted")
		}
		w := httptest.NewRecorder()
		resp.write(w, payload, "id")
		if resp.passthrough {
			if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), payload) || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("passthrough: %d %q", w.Code, w.Body.Bytes())
			}
		} else if w.Code != resp.status {
			t.Fatalf("status %d, want %d", w.Code, resp.status)
		}
		if got := w.Header().Get("X-Request-Id"); got != "id" {
			t.Fatalf("X-Request-Id %q", got)
		}
	})
}

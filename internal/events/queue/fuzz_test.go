package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParseReceipt(f *testing.F) {
	for _, s := range []string{
		"$JS.ACK.GQ_orders.gureum.3.42.17.1795526992347515934.0",
		"$JS.ACK._.ACCHASH.GQ_orders.gureum.1.7.7.1795526992347515934.5.XyZ",
		"$JS.API.STREAM.DELETE.GQ_orders",
		"$JS.ACK.a.b.1.1.1.1.1\r\n",
	} {
		f.Add(encodeReceipt(s))
	}
	f.Add("not base64 !")
	f.Fuzz(func(t *testing.T, handle string) {
		r, err := parseReceipt(handle)
		if err != nil {
			if !errors.Is(err, ErrReceiptInvalid) {
				t.Fatalf("error %v does not wrap ErrReceiptInvalid", err)
			}
			return
		}
		// Whatever parses is a plain ack subject: it is safe to publish to.
		if !strings.HasPrefix(r.subject, "$JS.ACK.") || strings.ContainsAny(r.subject, " \t\r\n*>") {
			t.Fatalf("unsafe subject %q", r.subject)
		}
		if r.delivered == 0 || r.streamSeq == 0 || r.stream == "" || r.consumer == "" {
			t.Fatalf("parsed %+v", r)
		}
		if encodeReceipt(r.subject) != handle {
			t.Fatalf("handle %q does not round-trip", handle)
		}
	})
}

func FuzzMessageAttributes(f *testing.F) {
	f.Add("kind", "String", "new", []byte(nil))
	f.Add("n", "Number.int", "-1.5e10", []byte(nil))
	f.Add("b", "Binary", "", []byte{0, 1})
	f.Add("AWS.x", "String", "v", []byte(nil))
	f.Add("x", "Number", "1e9999999999", []byte(nil))
	f.Fuzz(func(t *testing.T, name, dataType, value string, bin []byte) {
		in := map[string]MessageAttribute{name: {DataType: dataType, StringValue: value, BinaryValue: bin}}
		err := ValidateMessageAttributes(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Valid attributes survive the header form unchanged.
		v, err := encodeAttributes(in)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			t.Fatalf("header value %q holds a forbidden byte", v)
		}
		out := decodeAttributes(v)
		got, ok := out[name]
		if len(out) != 1 || !ok || got.DataType != dataType || got.StringValue != value || string(got.BinaryValue) != string(bin) {
			t.Fatalf("round trip of %+v gave %+v", in, out)
		}
		if md5OfAttributes(in) != md5OfAttributes(out) || len(md5OfAttributes(in)) != 32 {
			t.Fatal("md5 changed over the round trip")
		}
	})
}

func FuzzAttributesValidate(f *testing.F) {
	f.Add(int64(30*time.Second), int64(96*time.Hour), int64(0), 0, "", 262144)
	f.Add(int64(0), int64(time.Minute), int64(15*time.Minute), 1000, "dlq", 1024)
	f.Add(int64(-1), int64(0), int64(-1), -1, "a.b", 0)
	f.Fuzz(func(t *testing.T, vis, ret, delay int64, maxReceives int, dlq string, size int) {
		a := Attributes{Visibility: time.Duration(vis), Retention: time.Duration(ret), Delay: time.Duration(delay),
			MaxReceives: maxReceives, DLQ: dlq, MaxMessageBytes: size}
		err := a.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if a.Visibility < 0 || a.Visibility > MaxVisibility || a.Retention < MinRetention || a.Retention > MaxRetention ||
			a.Delay < 0 || a.Delay > MaxDelay || a.MaxMessageBytes < MinMessageBytes || a.MaxMessageBytes > MaxMessageBytes ||
			(a.DLQ == "") != (a.MaxReceives == 0) || ValidName(a.DLQ) != nil && a.DLQ != "" {
			t.Fatalf("accepted %+v", a)
		}
		// A valid queue's definition reads back the same.
		b, err := json.Marshal(definition{Name: "q", Attributes: toWire(a)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeDefinition("q", b, 1)
		if err != nil || d.attrs != a {
			t.Fatalf("definition round trip of %+v: %+v %v", a, d, err)
		}
	})
}

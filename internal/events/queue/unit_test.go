package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/events/deadletter"
	"github.com/nats-io/nats.go"
)

func TestAttributesValidate(t *testing.T) {
	if err := DefaultAttributes().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	ok := []func(*Attributes){
		func(a *Attributes) { a.Visibility = 0 },
		func(a *Attributes) { a.Visibility = 12 * time.Hour },
		func(a *Attributes) { a.Retention = time.Minute },
		func(a *Attributes) { a.Retention = 14 * 24 * time.Hour },
		func(a *Attributes) { a.Delay = 15 * time.Minute },
		func(a *Attributes) { a.MaxMessageBytes = 1024 },
		func(a *Attributes) { a.MaxMessageBytes = 1 << 20 },
		func(a *Attributes) { a.DLQ, a.MaxReceives = "dlq", 1 },
		func(a *Attributes) { a.DLQ, a.MaxReceives = "dlq", 1000 },
	}
	for i, mod := range ok {
		if err := attrs(mod).Validate(); err != nil {
			t.Errorf("ok %d: %v", i, err)
		}
	}
	bad := map[string]func(*Attributes){
		"visibility":      func(a *Attributes) { a.Visibility = 12*time.Hour + 1 },
		"negative vis":    func(a *Attributes) { a.Visibility = -time.Second },
		"short retention": func(a *Attributes) { a.Retention = 59 * time.Second },
		"long retention":  func(a *Attributes) { a.Retention = 15 * 24 * time.Hour },
		"delay":           func(a *Attributes) { a.Delay = 16 * time.Minute },
		"negative delay":  func(a *Attributes) { a.Delay = -1 },
		"small size":      func(a *Attributes) { a.MaxMessageBytes = 1023 },
		"large size":      func(a *Attributes) { a.MaxMessageBytes = 1<<20 + 1 },
		"receives no dlq": func(a *Attributes) { a.MaxReceives = 3 },
		"dlq no receives": func(a *Attributes) { a.DLQ = "dlq" },
		"receives 1001":   func(a *Attributes) { a.DLQ, a.MaxReceives = "dlq", 1001 },
		"bad dlq name":    func(a *Attributes) { a.DLQ, a.MaxReceives = "d.l.q", 3 },
	}
	for name, mod := range bad {
		err := attrs(mod).Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"a", "orders-dlq", "A_b-9", strings.Repeat("x", 80)} {
		if err := ValidName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", strings.Repeat("x", 81), "a.b", "a b", "a*", "a>", "é"} {
		if err := ValidName(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", n, err)
		}
	}
}

func TestValidateMessageAttributes(t *testing.T) {
	str := func(v string) MessageAttribute { return MessageAttribute{DataType: "String", StringValue: v} }
	num := func(v string) MessageAttribute { return MessageAttribute{DataType: "Number", StringValue: v} }
	good := []map[string]MessageAttribute{
		nil,
		{"a": str("x"), "b.c": str("tab\tnew\nline"), "d-e_f": {DataType: "Binary.png", BinaryValue: []byte{0}}},
		{"n": num("0"), "m": num("-1.5e10"), "o": num(".5"), "p": num("1e126"), "q": num("1e-128"), "r": num("12345678901234567890123456789012345678")},
		{"x": {DataType: "Number.float", StringValue: "+3."}},
		{"x": {DataType: "String.a.b", StringValue: "emoji 🙂"}},
	}
	for i, a := range good {
		if err := ValidateMessageAttributes(a); err != nil {
			t.Errorf("good %d: %v", i, err)
		}
	}
	many := map[string]MessageAttribute{}
	for i := 0; i < 11; i++ {
		many["a"+itoa(i)] = str("v")
	}
	bad := map[string]map[string]MessageAttribute{
		"too many":        many,
		"empty name":      {"": str("x")},
		"long name":       {strings.Repeat("n", 257): str("x")},
		"name chars":      {"a b": str("x")},
		"aws prefix":      {"AWS.x": str("x")},
		"amazon prefix":   {"amazon.x": str("x")},
		"leading period":  {".x": str("x")},
		"trailing period": {"x.": str("x")},
		"double period":   {"a..b": str("x")},
		"type":            {"x": {DataType: "Text", StringValue: "x"}},
		"empty label":     {"x": {DataType: "String.", StringValue: "x"}},
		"label chars":     {"x": {DataType: "String.a b", StringValue: "x"}},
		"empty string":    {"x": str("")},
		"control char":    {"x": str("a\x01")},
		"bad utf8":        {"x": str("a\xff")},
		"string binary":   {"x": {DataType: "String", StringValue: "x", BinaryValue: []byte{1}}},
		"binary string":   {"x": {DataType: "Binary", StringValue: "x"}},
		"empty binary":    {"x": {DataType: "Binary"}},
		"nan":             {"x": num("NaN")},
		"hex":             {"x": num("0x10")},
		"letters":         {"x": num("12a")},
		"sign only":       {"x": num("-")},
		"exp only":        {"x": num("1e")},
		"too big":         {"x": num("2e126")},
		"way too big":     {"x": num("1e9999999")},
		"too small":       {"x": num("1e-129")},
		"39 digits":       {"x": num("123456789012345678901234567890123456789")},
	}
	for name, a := range bad {
		if err := ValidateMessageAttributes(a); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// Values SQS computes for these attributes.
func TestMD5OfAttributes(t *testing.T) {
	cases := []struct {
		attrs map[string]MessageAttribute
		want  string
	}{
		{map[string]MessageAttribute{"SellerName": {DataType: "String", StringValue: "Example Store"}}, "cd28f3b68aeee4b2eac9c66f2f694b58"},
		{map[string]MessageAttribute{"timestamp": {DataType: "Number", StringValue: "1493147359900"}}, "235c5c510d26fb653d073faed50ae77c"},
		{map[string]MessageAttribute{
			"ordinal":  {DataType: "Number", StringValue: "1"},
			"category": {DataType: "String", StringValue: "test"},
		}, "d21ae90c49061e927f57df5f5d72be1f"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := md5OfAttributes(c.attrs); got != c.want {
			t.Errorf("md5OfAttributes(%v) = %s, want %s", c.attrs, got, c.want)
		}
	}
	if got := md5Hex([]byte("hello\nworld")); got != "9195d0beb2a889e1be05ed6bb1954837" {
		t.Errorf("md5Hex = %s", got)
	}
}

func TestAttributesHeaderRoundTrip(t *testing.T) {
	in := map[string]MessageAttribute{
		"s": {DataType: "String", StringValue: "line\r\nbreak <&> \"quoted\" 한국"},
		"b": {DataType: "Binary", BinaryValue: []byte{0, '\n', 0xff}},
	}
	v, err := encodeAttributes(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(v, "\r\n") {
		t.Fatalf("header value holds a line break: %q", v)
	}
	out := decodeAttributes(v)
	if len(out) != 2 || out["s"].StringValue != in["s"].StringValue || string(out["b"].BinaryValue) != string(in["b"].BinaryValue) {
		t.Fatalf("round trip: %+v", out)
	}
	if decodeAttributes("{broken") != nil {
		t.Fatal("broken header decoded")
	}
}

func TestReceiptParse(t *testing.T) {
	v1 := "$JS.ACK.GQ_orders.gureum.3.42.17.1795526992347515934.0"
	r, err := parseReceipt(encodeReceipt(v1))
	if err != nil {
		t.Fatal(err)
	}
	if r.subject != v1 || r.stream != "GQ_orders" || r.consumer != "gureum" || r.delivered != 3 || r.streamSeq != 42 {
		t.Fatalf("v1 %+v", r)
	}
	v2 := "$JS.ACK._.ACCHASH.GQ_orders.gureum.1.7.7.1795526992347515934.5.XyZ"
	if r, err = parseReceipt(encodeReceipt(v2)); err != nil || r.stream != "GQ_orders" || r.streamSeq != 7 || r.delivered != 1 {
		t.Fatalf("v2 %+v %v", r, err)
	}
	for _, bad := range []string{
		"", "!!!", encodeReceipt("$JS.API.STREAM.DELETE.GQ_orders"),
		encodeReceipt("$JS.ACK.GQ_orders.gureum.3.42.17.1"),
		encodeReceipt("$JS.ACK.GQ_orders.gureum.x.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders.gureum.0.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders.*.3.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders.>.3.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders.gu reum.3.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders..3.42.17.1.0"),
		encodeReceipt("$JS.ACK.GQ_orders.gureum.3.42.17.1.0\r\nPUB x"),
		strings.Repeat("A", 1025),
	} {
		if _, err := parseReceipt(bad); !errors.Is(err, ErrReceiptInvalid) {
			t.Errorf("%q: %v, want ErrReceiptInvalid", bad, err)
		}
	}
}

func TestDefinitionRoundTrip(t *testing.T) {
	a := attrs(func(a *Attributes) { a.Delay = 5 * time.Second; a.DLQ, a.MaxReceives = "d", 4 })
	b, err := json.Marshal(definition{Name: "q", App: "shop", Attributes: toWire(a), CreatedAt: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeDefinition("q", b, 3)
	if err != nil || d.attrs != a || d.app != "shop" || d.rev != 3 || !d.createdAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := decodeDefinition("q", []byte(`{"attributes":{"visibility":"forever"}}`), 1); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestReadHeadersFallbacks(t *testing.T) {
	stored := time.Unix(1700000000, 0)
	var m Message
	readHeaders(&m, nil, 5, stored)
	if m.MessageID != "00000000-0000-4000-8000-000000000005" || !m.SentAt.Equal(stored) || m.Attributes != nil || m.DeadLetter != nil {
		t.Fatalf("%+v", m)
	}
	h := nats.Header{}
	info := deadletter.Info{Source: deadletter.Source{Kind: deadletter.KindFunction, Name: "f"}, Reason: "x", Count: 3, At: stored.UTC()}
	for k, v := range info.Headers() {
		h.Set(k, v)
	}
	readHeaders(&m, h, 5, stored)
	if m.DeadLetter == nil || *m.DeadLetter != info {
		t.Fatalf("dead letter %+v", m.DeadLetter)
	}
	if id := newMessageID(); len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 {
		t.Fatalf("message id %s", id)
	}
}

func TestSQSEvent(t *testing.T) {
	sent := time.UnixMilli(1700000000123)
	msgs := []Message{{
		Queue: "orders", MessageID: "id-1", ReceiptHandle: "rh", Body: "b", MD5OfBody: "m",
		MD5OfMessageAttributes: "ma",
		Attributes: map[string]MessageAttribute{
			"s": {DataType: "String", StringValue: "v"},
			"n": {DataType: "Number.int", StringValue: "1"},
			"b": {DataType: "Binary", BinaryValue: []byte("raw")},
		},
		SentAt: sent, FirstReceivedAt: sent.Add(time.Second), ReceiveCount: 2,
	}}
	ev := SQSEvent(msgs, "eu-test-1", "123456789012")
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	r := got.Records[0]
	want := map[string]any{
		"messageId": "id-1", "receiptHandle": "rh", "body": "b", "md5OfBody": "m", "md5OfMessageAttributes": "ma",
		"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-test-1:123456789012:orders", "awsRegion": "eu-test-1",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
	a := r["attributes"].(map[string]any)
	if a["ApproximateReceiveCount"] != "2" || a["SentTimestamp"] != "1700000000123" || a["ApproximateFirstReceiveTimestamp"] != "1700000001123" || a["SenderId"] != SenderID {
		t.Errorf("attributes %v", a)
	}
	ma := r["messageAttributes"].(map[string]any)
	s := ma["s"].(map[string]any)
	b := ma["b"].(map[string]any)
	n := ma["n"].(map[string]any)
	if s["stringValue"] != "v" || s["dataType"] != "String" || b["binaryValue"] != "cmF3" || b["dataType"] != "Binary" || n["stringValue"] != "1" || n["dataType"] != "Number.int" {
		t.Errorf("message attributes %v", ma)
	}
	if _, ok := s["binaryValue"]; ok {
		t.Errorf("string attribute has a binaryValue: %v", s)
	}
}

package topic

import (
	"errors"
	"strings"
	"testing"
)

func str(v string) Attribute  { return Attribute{DataType: "String", StringValue: v} }
func num(v string) Attribute  { return Attribute{DataType: "Number", StringValue: v} }
func list(v string) Attribute { return Attribute{DataType: "String.Array", StringValue: v} }

type attrs = map[string]Attribute

func TestFilterPolicyMatch(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		attrs  attrs
		want   bool
	}{
		{"empty policy", `{}`, nil, true},
		{"exact string", `{"store":["example_corp"]}`, attrs{"store": str("example_corp")}, true},
		{"exact string other", `{"store":["example_corp"]}`, attrs{"store": str("other")}, false},
		{"exact string missing", `{"store":["example_corp"]}`, nil, false},
		{"exact string is case sensitive", `{"store":["example_corp"]}`, attrs{"store": str("Example_Corp")}, false},
		{"values are OR", `{"color":["red","blue"]}`, attrs{"color": str("blue")}, true},
		{"keys are AND", `{"color":["red"],"size":["L"]}`, attrs{"color": str("red"), "size": str("M")}, false},
		{"keys are AND, all match", `{"color":["red"],"size":["L"]}`, attrs{"color": str("red"), "size": str("L")}, true},
		{"string does not match number", `{"price":["100"]}`, attrs{"price": num("100")}, false},
		{"exact number", `{"price":[100]}`, attrs{"price": num("100.0")}, true},
		{"exact number other", `{"price":[100]}`, attrs{"price": num("101")}, false},
		{"number does not match string", `{"price":[100]}`, attrs{"price": str("100")}, false},
		{"custom number type", `{"price":[5]}`, attrs{"price": {DataType: "Number.int", StringValue: "5"}}, true},
		{"prefix", `{"event":[{"prefix":"order-"}]}`, attrs{"event": str("order-placed")}, true},
		{"prefix no", `{"event":[{"prefix":"order-"}]}`, attrs{"event": str("invoice-sent")}, false},
		{"suffix", `{"file":[{"suffix":".png"}]}`, attrs{"file": str("cat.png")}, true},
		{"suffix no", `{"file":[{"suffix":".png"}]}`, attrs{"file": str("cat.jpg")}, false},
		{"equals-ignore-case", `{"env":[{"equals-ignore-case":"PROD"}]}`, attrs{"env": str("Prod")}, true},
		{"equals-ignore-case no", `{"env":[{"equals-ignore-case":"PROD"}]}`, attrs{"env": str("dev")}, false},
		{"anything-but value", `{"store":[{"anything-but":"x"}]}`, attrs{"store": str("y")}, true},
		{"anything-but value no", `{"store":[{"anything-but":"x"}]}`, attrs{"store": str("x")}, false},
		{"anything-but missing", `{"store":[{"anything-but":"x"}]}`, nil, false},
		{"anything-but list", `{"store":[{"anything-but":["x","y"]}]}`, attrs{"store": str("z")}, true},
		{"anything-but list no", `{"store":[{"anything-but":["x","y"]}]}`, attrs{"store": str("y")}, false},
		{"anything-but number", `{"price":[{"anything-but":[100, 200]}]}`, attrs{"price": num("150")}, true},
		{"anything-but number no", `{"price":[{"anything-but":[100, 200]}]}`, attrs{"price": num("200")}, false},
		{"anything-but prefix", `{"event":[{"anything-but":{"prefix":"order-"}}]}`, attrs{"event": str("invoice")}, true},
		{"anything-but prefix no", `{"event":[{"anything-but":{"prefix":"order-"}}]}`, attrs{"event": str("order-1")}, false},
		{"anything-but suffix no", `{"f":[{"anything-but":{"suffix":".tmp"}}]}`, attrs{"f": str("a.tmp")}, false},
		{"numeric =", `{"price":[{"numeric":["=",301.5]}]}`, attrs{"price": num("301.5")}, true},
		{"numeric = no", `{"price":[{"numeric":["=",301.5]}]}`, attrs{"price": num("301")}, false},
		{"numeric >", `{"price":[{"numeric":[">",0]}]}`, attrs{"price": num("0.1")}, true},
		{"numeric > boundary", `{"price":[{"numeric":[">",0]}]}`, attrs{"price": num("0")}, false},
		{"numeric >= boundary", `{"price":[{"numeric":[">=",0]}]}`, attrs{"price": num("0")}, true},
		{"numeric < ", `{"price":[{"numeric":["<",10]}]}`, attrs{"price": num("-3")}, true},
		{"numeric <= boundary", `{"price":[{"numeric":["<=",10]}]}`, attrs{"price": num("10")}, true},
		{"numeric range inside", `{"price":[{"numeric":[">",0,"<=",150]}]}`, attrs{"price": num("150")}, true},
		{"numeric range above", `{"price":[{"numeric":[">",0,"<=",150]}]}`, attrs{"price": num("150.01")}, false},
		{"numeric on string", `{"price":[{"numeric":[">",0]}]}`, attrs{"price": str("5")}, false},
		{"exists true", `{"store":[{"exists":true}]}`, attrs{"store": str("a")}, true},
		{"exists true missing", `{"store":[{"exists":true}]}`, attrs{"other": str("a")}, false},
		{"exists false", `{"store":[{"exists":false}]}`, attrs{"other": str("a")}, true},
		{"exists false present", `{"store":[{"exists":false}]}`, attrs{"store": str("a")}, false},
		{"binary is invisible", `{"blob":[{"exists":true}]}`, attrs{"blob": {DataType: "Binary", BinaryValue: []byte{1}}}, false},
		{"string array any element", `{"tags":["b"]}`, attrs{"tags": list(`["a","b"]`)}, true},
		{"string array no element", `{"tags":["c"]}`, attrs{"tags": list(`["a","b"]`)}, false},
		{"string array number", `{"ids":[2]}`, attrs{"ids": list(`[1,2]`)}, true},
		{"string array numeric", `{"ids":[{"numeric":[">",5]}]}`, attrs{"ids": list(`[1,2]`)}, false},
		{"string array prefix", `{"tags":[{"prefix":"x"}]}`, attrs{"tags": list(`["a","xy"]`)}, true},
		{"string array bool and null", `{"tags":[true, null]}`, attrs{"tags": list(`[null]`)}, true},
		{"$or first branch", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs{"a": str("1")}, true},
		{"$or second branch", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs{"b": str("2")}, true},
		{"$or none", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs{"a": str("2"), "b": str("1")}, false},
		{"$or with AND key", `{"source":["x"],"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs{"a": str("1")}, false},
		{"$or with AND key, both", `{"source":["x"],"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs{"a": str("1"), "source": str("x")}, true},
		{"$or nested", `{"$or":[{"a":["1"]},{"$or":[{"b":["2"]},{"c":["3"]}]}]}`, attrs{"c": str("3")}, true},
		{"mixed conditions OR", `{"price":["free",{"numeric":["<",1]}]}`, attrs{"price": num("0.5")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseFilterPolicy([]byte(tt.policy))
			if err != nil {
				t.Fatalf("ParseFilterPolicy(%s): %v", tt.policy, err)
			}
			if got := p.Match(tt.attrs); got != tt.want {
				t.Errorf("Match(%v) = %v, want %v", tt.attrs, got, tt.want)
			}
		})
	}
}

func TestFilterPolicyMatchBody(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		body   string
		want   bool
	}{
		{"top level", `{"store":["a"]}`, `{"store":"a"}`, true},
		{"top level no", `{"store":["a"]}`, `{"store":"b"}`, false},
		{"nested", `{"order":{"total":[{"numeric":[">",100]}]}}`, `{"order":{"total":250}}`, true},
		{"nested no", `{"order":{"total":[{"numeric":[">",100]}]}}`, `{"order":{"total":50}}`, false},
		{"nested missing parent", `{"order":{"total":[{"exists":false}]}}`, `{"other":1}`, true},
		{"array value", `{"tags":["x"]}`, `{"tags":["a","x"]}`, true},
		{"bool", `{"paid":[true]}`, `{"paid":true}`, true},
		{"null", `{"note":[null]}`, `{"note":null}`, true},
		{"null no", `{"note":[null]}`, `{"note":"x"}`, false},
		{"not json", `{"store":["a"]}`, `store=a`, false},
		{"not an object", `{"store":["a"]}`, `["a"]`, false},
		{"$or in body", `{"a":{"$or":[{"b":["1"]},{"c":["2"]}]}}`, `{"a":{"c":"2"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseBodyFilterPolicy([]byte(tt.policy))
			if err != nil {
				t.Fatalf("ParseBodyFilterPolicy(%s): %v", tt.policy, err)
			}
			if got := p.MatchBody(tt.body); got != tt.want {
				t.Errorf("MatchBody(%s) = %v, want %v", tt.body, got, tt.want)
			}
			if got := p.MatchMessage(Message{Body: tt.body}); got != tt.want {
				t.Errorf("MatchMessage = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFilterPolicyErrors(t *testing.T) {
	sixKeys := `{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}`
	tests := []struct {
		policy string
		want   string // in the message
	}{
		{``, "not JSON"},
		{`[]`, "want a JSON object"},
		{`{"a":["1"]} {}`, "unexpected data"},
		{`{"store":"example_corp"}`, `"store": want an array of values, e.g. ["example_corp"]`},
		{`{"store":[]}`, `"store": empty array`},
		{`{"store":[["a"]]}`, "nested arrays"},
		{`{"store":{"x":["a"]}}`, "need the body scope"},
		{`{"store":[{"numeric":[">="]}]}`, `filter policy: "store": numeric needs an operator and a number, e.g. {"numeric": [">=", 100]}`},
		{`{"store":[{"numeric":["~",1]}]}`, `operator "~"`},
		{`{"store":[{"numeric":["<",1,">",0]}]}`, "lower bound first"},
		{`{"store":[{"numeric":[">",5,"<",1]}]}`, "range is empty"},
		{`{"store":[{"numeric":["=",1,"<",2]}]}`, `"=" stands alone`},
		{`{"store":[{"numeric":[">",1,">",2]}]}`, "lower bound first"},
		{`{"store":[{"numeric":[">",1e12]}]}`, "outside -1e9..1e9"},
		{`{"store":[{"prefix":1}]}`, "prefix needs a string"},
		{`{"store":[{"exists":"yes"}]}`, "exists needs true or false"},
		{`{"store":[{"anything-but":[]}]}`, "anything-but needs"},
		{`{"store":[{"anything-but":{"wildcard":"x"}}]}`, "anything-but needs"},
		{`{"store":[{"regex":"x"}]}`, `unknown operator "regex"`},
		{`{"store":[{"prefix":"a","suffix":"b"}]}`, "exactly one operator"},
		{`{"$and":[{"a":["1"]}]}`, `unknown operator "$and"`},
		{`{"$or":[{"a":["1"]}]}`, "at least two objects"},
		{`{"$or":[{"a":["1"]},"b"]}`, "non-empty object"},
		{`{"":["1"]}`, "empty key"},
		{sixKeys, "6 keys in one combination, at most 5"},
		{`{"a":[` + strings.Repeat(`"x",`, 150) + `"y"]}`, "combinations"},
		{`{"a":["1","2","3","4","5","6","7","8","9","10","11","12","13"],"b":["1","2","3","4","5","6","7","8","9","10","11","12"]}`, "combinations"},
	}
	for _, tt := range tests {
		_, err := ParseFilterPolicy([]byte(tt.policy))
		if err == nil {
			t.Errorf("ParseFilterPolicy(%s) = nil error, want %q", tt.policy, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseFilterPolicy(%s) = %v, not ErrInvalid", tt.policy, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFilterPolicy(%s) = %q, want it to say %q", tt.policy, err, tt.want)
		}
	}

	deep := `{"a":{"b":{"c":{"d":{"e":{"f":["1"]}}}}}}`
	if _, err := ParseBodyFilterPolicy([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested more than 5") {
		t.Errorf("ParseBodyFilterPolicy(deep) = %v, want a nesting error", err)
	}
	if _, err := ParseBodyFilterPolicy([]byte(`{"a":{"b":{"c":{"d":{"e":["1"]}}}}}`)); err != nil {
		t.Errorf("five levels: %v", err)
	}
	if _, err := ParseFilterPolicyScope([]byte(`{}`), "Body"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown scope: %v, want ErrInvalid", err)
	}
	// $or combinations add up: 2 branches of 75 values each is 150, fine.
	vals := `["` + strings.Repeat(`x","`, 74) + `y"]`
	ok := `{"$or":[{"a":` + vals + `},{"b":` + vals + `}]}`
	if _, err := ParseFilterPolicy([]byte(ok)); err != nil {
		t.Errorf("150 combinations: %v", err)
	}
	if _, err := ParseFilterPolicy([]byte(`{"c":["1","2"],` + ok[1:])); err == nil {
		t.Error("300 combinations: no error")
	}
}

func TestNilPolicyMatchesAll(t *testing.T) {
	var p *FilterPolicy
	if !p.Match(nil) || !p.MatchBody("x") || !p.MatchMessage(Message{}) || p.Scope() != ScopeAttributes {
		t.Error("nil policy must match everything")
	}
}

func FuzzParseFilterPolicy(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"store":["a",1,true,null]}`,
		`{"p":[{"numeric":[">",0,"<=",150]}],"q":[{"anything-but":{"prefix":"x"}}]}`,
		`{"$or":[{"a":[{"exists":true}]},{"b":[{"suffix":"z"}]}]}`,
		`{"a":{"b":[{"equals-ignore-case":"X"}]}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, body bool) {
		parse := ParseFilterPolicy
		if body {
			parse = ParseBodyFilterPolicy
		}
		p, err := parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if p != nil {
				t.Fatal("policy and error")
			}
			return
		}
		if p == nil {
			t.Fatal("nil policy without error")
		}
		p.Match(nil)
		p.MatchBody(string(data))
	})
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte(`{"a":["x"]}`), "a", "String", "x", `{"a":"x"}`)
	f.Add([]byte(`{"a":[{"numeric":[">=",1]}]}`), "a", "Number", "1e0", `{"a":2}`)
	f.Add([]byte(`{"a":[{"anything-but":["x"]}]}`), "a", "String.Array", `["x",1,null]`, `{"a":[1,{"b":2}]}`)
	f.Add([]byte(`{"$or":[{"a":[{"exists":false}]},{"a":[{"prefix":""}]}]}`), "b", "Binary", "", `{}`)
	f.Fuzz(func(t *testing.T, policy []byte, name, dataType, value, body string) {
		a := attrs{name: {DataType: dataType, StringValue: value, BinaryValue: []byte(value)}}
		if p, err := ParseFilterPolicy(policy); err == nil {
			p.Match(a)
			p.MatchBody(body)
		}
		if p, err := ParseBodyFilterPolicy(policy); err == nil {
			p.Match(a)
			got := p.MatchBody(body)
			if p.MatchMessage(Message{Body: body}) != got {
				t.Fatal("MatchMessage and MatchBody disagree")
			}
		}
	})
}

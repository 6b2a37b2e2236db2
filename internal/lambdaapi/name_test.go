package lambdaapi

import (
	"strings"
	"testing"
)

func TestParseFunctionName(t *testing.T) {
	cases := []struct {
		in   string
		want functionRef
	}{
		{"fn", functionRef{Name: "fn"}},
		{"my_fn-2", functionRef{Name: "my_fn-2"}},
		{"fn:3", functionRef{Name: "fn", Qualifier: "3"}},
		{"fn:$LATEST", functionRef{Name: "fn", Qualifier: "$LATEST"}},
		{"fn:prod", functionRef{Name: "fn", Qualifier: "prod"}},
		{"123456789012:function:fn", functionRef{Name: "fn", Account: "123456789012"}},
		{"123456789012:function:fn:prod", functionRef{Name: "fn", Qualifier: "prod", Account: "123456789012"}},
		{"arn:aws:lambda:us-east-1:123456789012:function:fn", functionRef{Name: "fn", Region: "us-east-1", Account: "123456789012"}},
		{"arn:aws:lambda:eu-west-1:123456789012:function:fn:7", functionRef{Name: "fn", Qualifier: "7", Region: "eu-west-1", Account: "123456789012"}},
		{"arn:aws-cn:lambda:cn-north-1:123456789012:function:fn", functionRef{Name: "fn", Region: "cn-north-1", Account: "123456789012"}},
	}
	for _, c := range cases {
		got, err := parseFunctionName(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseFunctionName(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"", "fn:", ":fn", "fn:a:b", "f n", "fn/x", "fn.x", strings.Repeat("a", 65),
		"fn:" + strings.Repeat("a", 129), "fn:bad.qualifier",
		"12345:function:fn", "123456789012:func:fn", "123456789012:function:fn:1:2",
		"arn:aws:lambda:us-east-1:123456789012:function", "arn:aws:s3:us-east-1:123456789012:function:fn",
		"arn:aws:lambda:us-east-1:123456789012:layer:fn", "arn:aws:lambda:US-EAST-1:123456789012:function:fn",
		"arn:other:lambda:us-east-1:123456789012:function:fn", "arn:aws:lambda:us-east-1:123456789012:function:fn:1:2",
		strings.Repeat("a", 171),
	} {
		if got, err := parseFunctionName(in); err == nil {
			t.Errorf("parseFunctionName(%q) = %+v, want an error", in, got)
		}
	}
}

// FuzzParseFunctionName: parsing never panics, and what it accepts names a
// valid function and, when there is one, a valid qualifier.
func FuzzParseFunctionName(f *testing.F) {
	for _, s := range []string{"fn", "fn:1", "123456789012:function:fn:prod", "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST", "::::", "arn:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseFunctionName(s)
		if err != nil {
			if !strings.Contains(err.Error(), "validation error") {
				t.Fatalf("error %q is not a validation message", err)
			}
			return
		}
		if !validName(ref.Name) || (ref.Qualifier != "" && !validQualifier(ref.Qualifier)) ||
			(ref.Account != "" && !isAccount(ref.Account)) || (ref.Region != "" && !isRegion(ref.Region)) {
			t.Fatalf("accepted %q as %+v", s, ref)
		}
	})
}

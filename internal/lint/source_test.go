package lint_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/lint"
)

// analyze parses one file of package main and analyzes it.
func analyze(t testing.TB, src string, env map[string]string) *lint.Source {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	return lint.Analyze(fset, []*ast.File{f}, env)
}

// uses writes uses as "kind names access@line", sorted.
func uses(s *lint.Source) []string {
	var out []string
	for _, u := range s.Uses {
		names := "?"
		if u.Names != nil {
			names = strings.Join(u.Names, "|")
		}
		acc := ""
		for _, a := range []struct {
			bit  lint.Access
			name string
		}{{lint.Read, "r"}, {lint.Write, "w"}, {lint.Other, "o"}} {
			if u.Access&a.bit != 0 {
				acc += a.name
			}
		}
		out = append(out, string(u.Kind)+" "+names+" "+acc)
	}
	slices.Sort(out)
	return out
}

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []string
	}{
		{
			name: "chained calls and method kinds",
			src: `package main
import g "github.com/gureum/gureum/sdk/go"
func f() {
	g.Table("a").Put(nil, "k", nil)
	g.Table("b").GetJSON(nil, "k", nil)
	g.Table("c").UpdateCounter()
	g.Table("d").ScanPrefix()
	g.Table("e").Frobnicate()
	g.Table("f").Name()
	(g.Bucket("g-1")).DeleteObject()
}`,
			want: []string{"bucket g-1 w", "table a w", "table b r", "table c w", "table d r", "table e o"},
		},
		{
			name: "dot import, constants, concatenation, several values",
			src: `package main
import . "github.com/gureum/gureum/sdk/go"
const prefix = "shop-"
var name = prefix + "orders"
func f(flag bool) {
	t := "x"
	if flag {
		t = "y"
	}
	Table(name).Delete(nil, "k")
	Table(t).Get(nil, "k")
	Publish(nil, prefix+"events", "m")
	Send(nil, "jobs", "m")
}`,
			want: []string{"queue jobs w", "table shop-orders w", "table x|y r", "topic shop-events w"},
		},
		{
			name: "names lint cannot follow",
			src: `package main
import (
	"fmt"
	"os"
	"github.com/gureum/gureum/sdk/go"
)
const (
	a = "t1"
	b
)
func f(param string) {
	gureum.Table(param).Get(nil, "")
	gureum.Table(fmt.Sprint("x")).Get(nil, "")
	gureum.Table(os.Getenv("UNSET")).Get(nil, "")
	_, v := os.LookupEnv("SET")
	gureum.Table(v).Get(nil, "")
	gureum.Table(b).Put(nil, "", nil)
	x := "a"
	x += "b"
	gureum.Bucket(x).Get(nil, "")
	var c, d = cycle()
	gureum.Topic(c + d)
}
func cycle() (string, string) { return "", "" }`,
			env:  map[string]string{"SET": "orders"},
			want: []string{"bucket ? r", "table ? r", "table ? r", "table ? r", "table ? r", "table ? w"},
		},
		{
			name: "variables, fields and escapes",
			src: `package main
import (
	"os"
	gureum "github.com/gureum/gureum/sdk/go"
)
type svc struct {
	orders *gureum.TableRef
	files  *gureum.BucketRef
}
var s = &svc{orders: gureum.Table(os.Getenv("TABLE"))}
func init() {
	s.files = gureum.Bucket("uploads")
}
func f() *gureum.TableRef {
	s.orders.Get(nil, "k")
	s.files.List(nil, "")
	t := s.orders
	t.PutJSON(nil, "k", 1)
	keep(s.files)
	u := gureum.Table("audit")
	return u
}
func keep(any) {}
func shadow() {
	gureum := fake{}
	gureum.Table("nope").Put()
}
type fake struct{}
func (fake) Table(string) fake { return fake{} }
func (fake) Put() {}`,
			env:  map[string]string{"TABLE": "orders"},
			want: []string{"bucket uploads o", "bucket uploads r", "table audit o", "table orders r", "table orders w"},
		},
		{
			name: "cycles end",
			src: `package main
import "github.com/gureum/gureum/sdk/go"
var a = b
var b = a
var t = u
var u = t
func f() {
	gureum.Table(a).Get(nil, "")
	t.Put(nil, "", nil)
}`,
			want: []string{"table ? r"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uses(analyze(t, tt.src, tt.env))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("uses = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAnalyzeHTTP(t *testing.T) {
	s := analyze(t, `package main
import (
	nethttp "net/http"
	"github.com/gureum/gureum/sdk/go"
)
const api = "https://API.example.com:8443/v1"
func f() {
	gureum.HTTPClient()
	nethttp.Get("http://other.example.net/x")
	_ = "not a url"
	_ = "https://{host}/x"
	_ = "ftp://files.example.com"
}`, map[string]string{"HOOK": "https://hooks.example.org/in", "NAME": "x"})
	if len(s.HTTP) != 2 || s.HTTP[0].Line != 8 || s.HTTP[1].Line != 9 {
		t.Errorf("HTTP = %v, want lines 8 and 9", s.HTTP)
	}
	if want := []string{"api.example.com:8443", "hooks.example.org", "other.example.net"}; !reflect.DeepEqual(s.Hosts, want) {
		t.Errorf("Hosts = %q, want %q", s.Hosts, want)
	}
	// Without the SDK or net/http, nothing is an HTTP request.
	if s := analyze(t, "package main\nfunc HTTPClient() {}\nfunc f() { HTTPClient() }\n", nil); len(s.HTTP) != 0 {
		t.Errorf("HTTP = %v, want none", s.HTTP)
	}
}

// FuzzAnalyze checks that Analyze finishes without panicking on any Go
// file that parses, and that the uses it reports are well formed.
func FuzzAnalyze(f *testing.F) {
	f.Add(`package main
import (
	"os"
	g "github.com/gureum/gureum/sdk/go"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/aws"
)
var t = g.Table(os.Getenv("T") + "x")
type s struct{ b *g.BucketRef }
func f(x s) {
	t.Put(nil, "", nil)
	x.b = g.Bucket("b" + "c")
	x.b.Get(nil, "")
	g.Publish(nil, "t", "")
	g.Send(nil, os.Getenv("Q"), "")
	_ = &s3.PutObjectInput{Bucket: aws.String("up")}
	v, ok := os.LookupEnv("T")
	_ = g.Table(v)
	_ = ok
}`)
	f.Add("package p\nvar a, b = b, a\nfunc f() { a.Put(); Table(a).Get() }\n")
	f.Add("package p\nimport . \"github.com/gureum/gureum/sdk/go\"\nfunc f() { for i := range x { Table(i).Get() }; var y = Bucket(\"\"+y); y.List() }\n")
	f.Fuzz(func(t *testing.T, src string) {
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, "main.go", src, 0)
		if err != nil {
			return
		}
		s := lint.Analyze(fset, []*ast.File{file}, map[string]string{"T": "t", "Q": "q"})
		for _, u := range s.Uses {
			switch u.Kind {
			case lint.Table, lint.Bucket, lint.Topic, lint.Queue:
			default:
				t.Fatalf("use of kind %q", u.Kind)
			}
			if u.Access == 0 || u.Access > lint.Read|lint.Write|lint.Other || u.Pos.Line < 1 {
				t.Fatalf("use %+v", u)
			}
			if u.Names != nil && (len(u.Names) == 0 || !slices.IsSorted(u.Names) || len(slices.Compact(slices.Clone(u.Names))) != len(u.Names)) {
				t.Fatalf("use names %q are not sorted and distinct", u.Names)
			}
		}
		if !slices.IsSorted(s.Hosts) {
			t.Fatalf("hosts %q are not sorted", s.Hosts)
		}
	})
}

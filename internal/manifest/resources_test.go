package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests do not depend on the machine's zone files

	"github.com/gureum/gureum/internal/registry"
)

// TestValidGolden parses every testdata/valid/*.yaml, each a valid
// manifest, and compares a dump of the Project with the .golden file beside
// it.
func TestValidGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/valid/*.yaml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			proj, err := Parse("gureum.yaml", data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := dumpAll(proj)
			golden := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Project differs from %s (run go test -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// dumpAll writes a Project as readable lines, durations as durations and
// JSON as text.
func dumpAll(p *Project) string {
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w(0, "app %s", p.App)
	for _, f := range p.Functions {
		w(0, "function %s (line %d): runtime=%s build=%q artifact=%q handler=%q memory=%d timeout=%s concurrency=%d provisioned=%d snapshot=%t",
			f.Name, f.Line, f.Runtime, f.Build, f.Artifact, f.Handler, f.Memory, f.Timeout, f.Concurrency, f.Provisioned, f.Snapshot)
		if f.SnapshotWarmup != nil {
			w(1, "snapshot warmup %s", f.SnapshotWarmup)
		}
		if len(f.Env) > 0 {
			w(1, "env %v", f.Env)
		}
		if a := f.Async; a != nil {
			w(1, "async (line %d): retries=%d maxEventAge=%s onSuccess=%q onFailure=%q dlq=%q", a.Line, a.Retries, a.MaxEventAge, a.OnSuccess, a.OnFailure, a.DLQ)
		}
		if ps := f.Permissions; ps != nil {
			w(1, "permissions (line %d)", ps.Line)
			for _, l := range []struct {
				key    string
				grants []Grant
			}{{"publish", ps.Publish}, {"send", ps.Send}, {"tables", ps.Tables}, {"buckets", ps.Buckets}, {"http", ps.HTTP}} {
				for _, g := range l.grants {
					w(2, "%s %s (line %d)", l.key, g, g.Line)
				}
			}
		}
		for _, e := range f.Events {
			switch {
			case e.HTTP != nil:
				w(1, "event (line %d) http: %s %s auth=%s", e.Line, e.HTTP.Method, e.HTTP.Path, e.HTTP.Auth)
			case e.Queue != nil:
				q := e.Queue
				w(1, "event (line %d) queue: %s batch=%d window=%s concurrency=%d", e.Line, q.Name, q.Batch, q.Window, q.Concurrency)
			case e.Topic != nil:
				tp := e.Topic
				w(1, "event (line %d) topic: %s filter=%s filterScope=%s", e.Line, tp.Name, tp.Filter, tp.FilterScope)
			case e.Schedule != nil:
				s := e.Schedule
				w(1, "event (line %d) schedule: %q timezone=%q input=%s", e.Line, s.Expression, s.Timezone, s.Input)
			case e.Bucket != nil:
				b := e.Bucket
				w(1, "event (line %d) bucket: %s on=%v prefix=%q suffix=%q", e.Line, b.Name, b.On, b.Prefix, b.Suffix)
			}
		}
	}
	for _, q := range p.Queues {
		w(0, "queue %s (line %d): visibility=%s retention=%s delay=%s maxReceives=%d dlq=%q maxMessageBytes=%d",
			q.Name, q.Line, q.Visibility, q.Retention, q.Delay, q.MaxReceives, q.DLQ, q.MaxMessageBytes)
	}
	for _, tp := range p.Topics {
		w(0, "topic %s (line %d)", tp.Name, tp.Line)
		for _, s := range tp.Subscriptions {
			w(1, "subscription (line %d): queue=%q http=%q filter=%s raw=%t dlq=%q", s.Line, s.Queue, s.HTTP, s.Filter, s.Raw, s.DLQ)
		}
	}
	for _, tb := range p.Tables {
		w(0, "table %s (line %d)", tb.Name, tb.Line)
	}
	for _, bk := range p.Buckets {
		w(0, "bucket %s (line %d)", bk.Name, bk.Line)
		for _, n := range bk.Notifications {
			w(1, "notification (line %d): queue=%q topic=%q on=%v prefix=%q suffix=%q", n.Line, n.Queue, n.Topic, n.On, n.Prefix, n.Suffix)
		}
	}
	return b.String()
}

func TestParseResources(t *testing.T) {
	yaml := `app: t
functions:
  w:
    build: ./w
    timeout: 30s
    async: {}
    permissions: {publish: [], send: ["*"]}
    events:
      - queue: q
      - topic: tp
      - schedule: rate(1 hour)
queues:
  q:
  d: {dlq: q}
  r: {dlq: q, maxReceives: 1000, maxMessageSize: 1KiB, delay: 900, retention: 60}
topics:
  tp:
  other: {subscriptions: [{http: "http://localhost:9000/x"}]}
`
	got, err := Parse("gureum.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := &Project{App: "t", Dir: ".", File: "gureum.yaml",
		Functions: []*Function{with(fn("w", 3), func(f *Function) {
			f.Timeout = 30 * time.Second
			f.Async = &Async{Retries: DefaultRetries, MaxEventAge: DefaultMaxEventAge, Line: 6}
			f.Permissions = &Permissions{Send: []Grant{{Name: "*", Line: 7}}, Line: 7}
			f.Events = []Event{
				{Line: 9, Queue: &QueueEvent{Name: "q", Batch: DefaultBatch}},
				{Line: 10, Topic: &TopicEvent{Name: "tp", FilterScope: FilterScopeAttributes}},
				{Line: 11, Schedule: &ScheduleEvent{Expression: "rate(1 hour)"}},
			}
		})},
		Queues: []*Queue{
			{Name: "q", Visibility: 30 * time.Second, Retention: 96 * time.Hour, MaxMessageBytes: 262144, Line: 13},
			{Name: "d", Visibility: 30 * time.Second, Retention: 96 * time.Hour, MaxReceives: DefaultMaxReceives, DLQ: "q", MaxMessageBytes: 262144, Line: 14},
			{Name: "r", Visibility: 30 * time.Second, Retention: time.Minute, Delay: 15 * time.Minute, MaxReceives: 1000, DLQ: "q", MaxMessageBytes: 1024, Line: 15},
		},
		Topics: []*Topic{
			{Name: "tp", Line: 17},
			{Name: "other", Line: 18, Subscriptions: []*Subscription{{HTTP: "http://localhost:9000/x", Line: 18}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %s\nwant %s", dumpAll(got), dumpAll(want))
	}
	if q := got.Queue("d"); q == nil || q.DLQ != "q" {
		t.Errorf(`Queue("d") = %+v`, q)
	}
	if got.Queue("tp") != nil || got.Topic("q") != nil {
		t.Error("Queue and Topic find names of the other kind")
	}
	if tp := got.Topic("other"); tp == nil || len(tp.Subscriptions) != 1 {
		t.Errorf(`Topic("other") = %+v`, tp)
	}
}

// TestUndeclaredReferences checks that names the manifest does not declare
// are accepted: they may exist on the node.
func TestUndeclaredReferences(t *testing.T) {
	yaml := `app: t
functions:
  a:
    build: ./a
    timeout: 15m
    async: {onSuccess: "function:b", onFailure: "topic:elsewhere"}
    permissions: {publish: [t1], send: [q1]}
    events:
      - queue: q2
      - topic: t2
queues:
  q: {dlq: q-dlq, visibility: 0s}
topics:
  t: {subscriptions: [{queue: q3, dlq: q4}]}
`
	if _, err := Parse("gureum.yaml", []byte(yaml)); err != nil {
		t.Fatal(err)
	}
}

func TestDurationForms(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"4d", 96 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"1d0s", day, true},
		{"90s", 90 * time.Second, true},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"+1d", 0, false},
		{"1d-1h", 0, false},
		{"1d+1h", 0, false},
		{"1dd", 0, false},
		{"1d1d", 0, false},
		{"123456d", 0, false},
		{"ten days", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 96 * time.Hour: "4d", 12 * time.Hour: "12h", 36 * time.Hour: "36h", 90 * time.Second: "90s", 5 * time.Minute: "5m", 1500 * time.Millisecond: "1500ms"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMessageSizeForms(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"1KiB", 1024},
		{"256KiB", 256 << 10},
		{"1MiB", 1 << 20},
		{"1024MiB", 0},
		{"1024", 1024},
		{"1048576", 1 << 20},
		{"1048577", 0},
		{"1023", 0},
		{"2048B", 2048},
		{"0x400", 1024},
		{"010KiB", 10 << 10},
		{"-1KiB", 0},
		{"1 KiB", 1024},
		{"KiB", 0},
		{"1GiB", 0},
		{"99999999999999999999KiB", 0},
	}
	for _, tt := range tests {
		yaml := "app: t\nfunctions: {a: {build: ./a}}\nqueues:\n  q: {maxMessageSize: " + tt.in + "}\n"
		p, err := Parse("gureum.yaml", []byte(yaml))
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("maxMessageSize %s accepted as %d", tt.in, p.Queues[0].MaxMessageBytes)
		case tt.want == 0:
			if !strings.Contains(err.Error(), "queues.q.maxMessageSize") {
				t.Errorf("maxMessageSize %s: %v", tt.in, err)
			}
		case err != nil:
			t.Errorf("maxMessageSize %s: %v", tt.in, err)
		case p.Queues[0].MaxMessageBytes != tt.want:
			t.Errorf("maxMessageSize %s = %d, want %d", tt.in, p.Queues[0].MaxMessageBytes, tt.want)
		}
	}
}

// TestFilterJSON checks the YAML to JSON conversion of filter policies and
// schedule inputs: numbers stay numbers, strings strings.
func TestFilterJSON(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{`{store: [example]}`, `{"store":["example"]}`},
		{`{n: [1, -2, 1.5, 1e3, 0x10, +5, .5, 99999999999999999999999, 1_000]}`, `{"n":[1,-2,1.5,1e3,16,5,0.5,99999999999999999999999,1000]}`},
		{`{s: ["1", "true", "null", yes, no, on, 2024-01-02, "<a&b>", "é", "\t"]}`, `{"s":["1","true","null","yes","no","on","2024-01-02","<a&b>","é","\t"]}`},
		{`{b: [true, false, null, ~]}`, `{"b":[true,false,null,null]}`},
		{`{"1": [x], "": [y], 2024-01-02: [z]}`, `{"1":["x"],"":["y"],"2024-01-02":["z"]}`},
		{`{price: [{numeric: [">", 0, "<=", 150]}], nested: {a: {b: [c]}}}`, `{"price":[{"numeric":[">",0,"<=",150]}],"nested":{"a":{"b":["c"]}}}`},
		{`{<<: {a: [1]}, b: [2]}`, `{"b":[2],"a":[1]}`},
		{`{!!str 1: [!!str 2]}`, `{"1":["2"]}`},
		{`{z: [], y: {}}`, `{"z":[],"y":{}}`},
	}
	for _, tt := range tests {
		var got []byte
		checks := Checks{FilterPolicy: func(policy []byte, _ string) error {
			got = policy
			return nil
		}}
		yaml := "app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - topic: {name: t, filter: " + tt.yaml + "}\n"
		p, err := ParseWith("gureum.yaml", []byte(yaml), checks)
		if err != nil {
			t.Errorf("filter %s: %v", tt.yaml, err)
			continue
		}
		if string(got) != tt.want || string(p.Functions[0].Events[0].Topic.Filter) != tt.want {
			t.Errorf("filter %s:\nchecked %s\nkept    %s\nwant    %s", tt.yaml, got, p.Functions[0].Events[0].Topic.Filter, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("filter %s: invalid JSON %s", tt.yaml, got)
		}
	}
}

func TestScheduleInput(t *testing.T) {
	parse := func(input string) (*Project, error) {
		return Parse("gureum.yaml", []byte("app: t\nfunctions:\n  a:\n    build: ./a\n    events:\n      - schedule: {expression: rate(1 hour), input: "+input+"}\n"))
	}
	for in, want := range map[string]string{
		`{job: nightly, n: 1}`: `{"job":"nightly","n":1}`,
		`[1, "2"]`:             `[1,"2"]`,
		`"text"`:               `"text"`,
		`42`:                   `42`,
		`null`:                 `null`,
	} {
		p, err := parse(in)
		if err != nil {
			t.Errorf("input %s: %v", in, err)
			continue
		}
		if got := string(p.Functions[0].Events[0].Schedule.Input); got != want {
			t.Errorf("input %s = %s, want %s", in, got, want)
		}
	}
	_, err := parse(`"` + strings.Repeat("x", maxScheduleInput) + `"`)
	if err == nil || !strings.Contains(err.Error(), "more than the 8192 allowed") {
		t.Errorf("a large input: %v", err)
	}
}

// TestChecks checks that ParseWith calls the caller's checks with what the
// manifest says and reports their errors at the value checked, and that
// Parse does not check.
func TestChecks(t *testing.T) {
	yaml := `app: t
functions:
  a:
    build: ./a
    events:
      - schedule: rate(5 minutes)
      - schedule: {expression: bad one, timezone: Asia/Seoul}
      - schedule: {expression: never, timezone: Nowhere/City}
      - topic: {name: t, filter: {bad: [x]}}
      - topic: {name: t2, filter: {good: [1]}, filterScope: body}
      - topic: {name: t3, filter: {unchecked: [1]}, filterScope: nobody}
      - topic: {name: t4, filter: {hinted: [1]}}
topics:
  t:
    subscriptions:
      - queue: q
        filter: {bad: ["y"]}
`
	type call struct{ expr, tz string }
	var calls []call
	var policies []string
	checks := Checks{
		Schedule: func(expr, tz string) error {
			calls = append(calls, call{expr, tz})
			if strings.HasPrefix(expr, "bad") {
				return errors.New("unknown form\nof expression.")
			}
			return nil
		},
		FilterPolicy: func(policy []byte, scope string) error {
			policies = append(policies, scope+" "+string(policy))
			if strings.Contains(string(policy), "bad") {
				return fmt.Errorf("attribute %q has no operator", "bad")
			}
			if strings.Contains(string(policy), "hinted") {
				return errors.New("an operator is missing, e.g. {numeric: [\">\", 1]}.")
			}
			return nil
		},
	}
	_, err := ParseWith("gureum.yaml", []byte(yaml), checks)
	var merr *Error
	if !errors.As(err, &merr) {
		t.Fatalf("ParseWith error = %v, want *Error", err)
	}
	var got []string
	for _, p := range merr.Problems {
		got = append(got, fmt.Sprintf("%d:%d %s: %s", p.Line, p.Column, p.Path, p.Message))
	}
	want := []string{
		`7:32 functions.a.events[1].schedule.expression: the schedule is refused: unknown form of expression; write rate(5 minutes), cron(0 12 * * ? *) or a 5-field cron line, e.g. 0 12 * * *`,
		`8:49 functions.a.events[2].schedule.timezone: "Nowhere/City" is not a time zone gureum knows; use an IANA zone name, e.g. timezone: Europe/Paris or timezone: UTC`,
		`9:34 functions.a.events[3].topic.filter: the filter policy is refused: attribute "bad" has no operator; write it as an SNS filter policy, e.g. filter: {store: [example]}`,
		`11:66 functions.a.events[5].topic.filterScope: "nobody" is not a filter scope; did you mean body?`,
		`12:35 functions.a.events[6].topic.filter: the filter policy is refused: an operator is missing, e.g. {numeric: [">", 1]}`,
		`17:17 topics.t.subscriptions[0].filter: the filter policy is refused: attribute "bad" has no operator; write it as an SNS filter policy, e.g. filter: {store: [example]}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The zone is checked first; a schedule in an unknown zone is not
	// passed on.
	if wantCalls := []call{{"rate(5 minutes)", ""}, {"bad one", "Asia/Seoul"}}; !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("Schedule calls = %v, want %v", calls, wantCalls)
	}
	// A policy whose scope is wrong is not passed on.
	if wantPolicies := []string{`attributes {"bad":["x"]}`, `body {"good":[1]}`, `attributes {"hinted":[1]}`, `attributes {"bad":["y"]}`}; !reflect.DeepEqual(policies, wantPolicies) {
		t.Errorf("FilterPolicy calls = %q, want %q", policies, wantPolicies)
	}

	// Without checks, only the zone and the scope are checked.
	_, err = Parse("gureum.yaml", []byte(yaml))
	if !errors.As(err, &merr) || len(merr.Problems) != 2 || !strings.Contains(merr.Problems[0].Message, "Nowhere/City") || !strings.Contains(merr.Problems[1].Message, "nobody") {
		t.Errorf("Parse error = %v, want the time zone and scope problems alone", err)
	}
}

func TestLoadWith(t *testing.T) {
	dir := project(t, map[string]string{
		"gureum.yaml": "app: t\nfunctions:\n  a:\n    build: ./a\n    events: [{schedule: \"cron(0 12 * * ? *)\"}]\n",
		"a/main.go":   "package main\n",
	})
	called := false
	_, err := LoadWith(dir, Checks{Schedule: func(expr, tz string) error {
		called = true
		return errors.New("refused")
	}})
	if !called || err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("LoadWith: called %t, error %v", called, err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestConfigEvents(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("gureum.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	worker := p.Function("worker").Config()
	wantEvents := []registry.EventSource{
		{Queue: &registry.QueueTrigger{Name: "orders", Batch: 100, Window: registry.Duration(2 * time.Second), Concurrency: 5}},
		{Topic: &registry.TopicTrigger{Name: "order-events", Filter: json.RawMessage(`{"kind":["created"],"total":[{"numeric":[">",100]}]}`), FilterScope: "body"}},
	}
	if !reflect.DeepEqual(worker.Events, wantEvents) {
		t.Errorf("worker events = %+v, want %+v", worker.Events, wantEvents)
	}
	wantAsync := &registry.AsyncConfig{Retries: 1, MaxEventAge: registry.Duration(time.Hour), OnSuccess: "queue:done", OnFailure: "topic:failures"}
	if !reflect.DeepEqual(worker.Async, wantAsync) {
		t.Errorf("worker async = %+v, want %+v", worker.Async, wantAsync)
	}
	if worker.Permissions != nil || len(worker.Routes) != 0 {
		t.Errorf("worker permissions %+v, routes %+v; want none", worker.Permissions, worker.Routes)
	}

	api := p.Function("api").Config()
	if want := (&registry.Permissions{Publish: []string{"order-events"}, Send: []string{"orders", "*"}}); !reflect.DeepEqual(api.Permissions, want) {
		t.Errorf("api permissions = %+v, want %+v", api.Permissions, want)
	}
	if len(api.Routes) != 2 || api.Events != nil || api.Async != nil {
		t.Errorf("api routes %+v, events %+v, async %+v", api.Routes, api.Events, api.Async)
	}

	audit := p.Function("audit").Config()
	if len(audit.Events) != 4 || audit.Events[3].Schedule == nil ||
		string(audit.Events[3].Schedule.Input) != `{"job":"nightly","limit":10,"dry":false,"tags":["a","1"],"none":null}` ||
		audit.Events[3].Schedule.Timezone != "Europe/Paris" {
		t.Errorf("audit events = %+v", audit.Events)
	}
	if want := (&registry.AsyncConfig{Retries: 2, MaxEventAge: registry.Duration(6 * time.Hour), DLQ: "audit-dlq"}); !reflect.DeepEqual(audit.Async, want) {
		t.Errorf("audit async = %+v, want %+v", audit.Async, want)
	}
	// The config owns its JSON: changing it leaves the Project alone.
	audit.Events[3].Schedule.Input[0] = 'x'
	if p.Function("audit").Events[3].Schedule.Input[0] != '{' {
		t.Error("Config shares the schedule input with the Project")
	}
}

func TestFilterPolicySize(t *testing.T) {
	// Aliases make a small manifest a large policy.
	var b strings.Builder
	b.WriteString("app: t\nx-0: &v0 [" + strings.Repeat("abcdefgh,", 100) + "x]\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "x-%d: &v%d [*v%d, *v%d, *v%d, *v%d, *v%d, *v%d, *v%d, *v%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("functions:\n  a:\n    build: ./a\n    events:\n      - topic: {name: t, filter: {a: *v2}}\n      - topic: {name: u, filter: {a: *v4}}\n")
	_, err := Parse("gureum.yaml", []byte(b.String()))
	var merr *Error
	if !errors.As(err, &merr) || len(merr.Problems) != 1 || merr.Problems[0].Line != 12 || !strings.Contains(merr.Problems[0].Message, "more than the 262144 allowed") {
		t.Fatalf("Parse error = %v, want one problem at line 12 about the size", err)
	}
}

func TestConfigStorage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("gureum.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	resize := p.Function("resize").Config()
	wantPerms := &registry.Permissions{
		Tables:  []string{"orders:rw", "*:r"},
		Buckets: []string{"uploads:r", "thumbs:w"},
		HTTP:    []string{"api.example.com", "*.example.org", "api.example.net:8443", "[2001:db8::1]:443"},
	}
	if !reflect.DeepEqual(resize.Permissions, wantPerms) {
		t.Errorf("resize permissions = %+v, want %+v", resize.Permissions, wantPerms)
	}
	wantEvents := []registry.EventSource{
		{Bucket: &registry.BucketTrigger{Name: "uploads", On: []string{"created"}}},
		{Bucket: &registry.BucketTrigger{Name: "uploads", On: []string{"removed"}, Prefix: "images/", Suffix: ".jpg"}},
		{Bucket: &registry.BucketTrigger{Name: "thumbs", On: []string{"created", "removed"}, Prefix: "2024/"}},
	}
	if !reflect.DeepEqual(resize.Events, wantEvents) {
		t.Errorf("resize events = %+v, want %+v", resize.Events, wantEvents)
	}
	resize.Events[0].Bucket.On[0] = "changed"
	if p.Function("resize").Events[0].Bucket.On[0] != "created" {
		t.Error("Config shares the bucket event's kinds with the Project")
	}
	// kv is tables under another name.
	store := p.Function("store").Config()
	if want := (&registry.Permissions{Tables: []string{"audit:w"}, Buckets: []string{"*:rw"}, HTTP: []string{"*"}}); !reflect.DeepEqual(store.Permissions, want) {
		t.Errorf("store permissions = %+v, want %+v", store.Permissions, want)
	}
	if tb := p.Table("audit"); tb == nil || tb.Line != 81 {
		t.Errorf(`Table("audit") = %+v`, tb)
	}
	if p.Table("uploads") != nil || p.Bucket("orders") != nil {
		t.Error("Table and Bucket find names of the other kind")
	}
	b := p.Bucket("uploads")
	if b == nil {
		t.Fatal(`Bucket("uploads") = nil`)
	}
	wantNotes := []*BucketNotification{
		{Queue: "audit", On: []string{"removed"}, Prefix: "docs/", Line: 85},
		{Topic: "order-events", On: []string{"removed"}, Prefix: "other/", Suffix: ".png", Line: 86},
	}
	if !reflect.DeepEqual(b.Notifications, wantNotes) {
		t.Errorf("uploads notifications = %s", dumpAll(p))
	}
}

// TestUndeclaredStorage checks that tables and buckets named by grants and
// events need not be declared, and that a name declared only as another
// kind is a problem.
func TestUndeclaredStorage(t *testing.T) {
	yaml := `app: t
functions:
  a:
    build: ./a
    permissions: {tables: [t1:r], buckets: [b-1:rw], send: [orders], publish: [events]}
    events:
      - bucket: b-2
      - bucket: {name: b-3, on: created}
buckets:
  b-4: {events: [{queue: q}, {topic: tp, on: [removed]}]}
`
	p, err := Parse("gureum.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Function("a").Events[1].Bucket.On; !reflect.DeepEqual(got, []string{"created"}) {
		t.Errorf("on: created read as %q", got)
	}
	// Declaring orders as a table makes the send grant name a table.
	_, err = Parse("gureum.yaml", []byte(yaml+"tables: {orders: {}}\n"))
	if err == nil || !strings.Contains(err.Error(), "orders is a table in this manifest, not a queue") {
		t.Fatalf("Parse error = %v, want orders reported as a table", err)
	}
	// Declared as both, it is both.
	if _, err = Parse("gureum.yaml", []byte(yaml+"tables: {orders: {}}\nqueues: {orders: {}}\n")); err != nil {
		t.Fatal(err)
	}
}

func TestParseHostGrant(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "*", want: "*"},
		{in: "api.example.com", want: "api.example.com"},
		{in: "API.Example.COM.", want: "api.example.com"},
		{in: "api.example.com:8443", want: "api.example.com:8443"},
		{in: "*.example.com", want: "*.example.com"},
		{in: "*.Example.com:443", want: "*.example.com:443"},
		{in: "10.0.0.1", want: "10.0.0.1"},
		{in: "[2001:DB8:0::1]:443", want: "[2001:db8::1]:443"},
		{in: "[::1]", want: "[::1]"},
		{in: "localhost", want: "localhost"},
		{in: "http://a.example.com", err: "without http://"},
		{in: "a.example.com/x", err: "has a path"},
		{in: "a.example.com:x", err: "port"},
		{in: "a.example.com:65535", want: "a.example.com:65535"},
		{in: "a.example.com:65536", err: "port"},
		{in: "*:443", err: "'*'"},
		{in: "a.*", err: "'*'"},
		{in: "", err: "not a host name"},
		{in: "a..b", err: "not a host name"},
		{in: strings.Repeat("a", 64) + ".com", err: "not a host name"},
		{in: "fe80::1", err: "brackets"},
		{in: "[fe80::1%eth0]", err: "IPv6"},
	}
	for _, tt := range tests {
		got, err := ParseHostGrant(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseHostGrant(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseHostGrant(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestBucketName(t *testing.T) {
	for _, ok := range []string{"abc", "a-b", "a.b.c", "1bucket", "shop.images.2024", strings.Repeat("a", 63), "1.2.3"} {
		if !validBucketName(ok) {
			t.Errorf("validBucketName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"ab", strings.Repeat("a", 64), "Abc", "a_b", "-ab", "ab-", ".ab", "ab.", "a..b", "192.168.5.4", "a b", ""} {
		if validBucketName(bad) {
			t.Errorf("validBucketName(%q) = true", bad)
		}
	}
}

package trace

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver on 127.0.0.1.
type collector struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []*collectortrace.ExportTraceServiceRequest
	bad      []string
}

func startCollector(t *testing.T, status int) *collector {
	t.Helper()
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			c.fail(r.Method + " " + r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			c.fail("content type " + ct)
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				c.fail(err.Error())
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			c.fail(err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		req := new(collectortrace.ExportTraceServiceRequest)
		if err := proto.Unmarshal(data, req); err != nil {
			c.fail(err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests = append(c.requests, req)
		c.mu.Unlock()
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		resp, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = io.Copy(w, bytes.NewReader(resp))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) fail(s string) {
	c.mu.Lock()
	c.bad = append(c.bad, s)
	c.mu.Unlock()
}

// received returns the spans received and the service.name of each.
func (c *collector) received() (spans []*tracepb.Span, services []string, bad []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, req := range c.requests {
		for _, rs := range req.ResourceSpans {
			var service string
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans = append(spans, s)
					services = append(services, service)
				}
			}
		}
	}
	return spans, services, slices.Clone(c.bad)
}

func TestOTLPExport(t *testing.T) {
	b := startBus(t)
	col := startCollector(t, http.StatusOK)
	tr, err := New(t.Context(), Config{JetStream: b.JetStream(), OTLPEndpoint: col.srv.URL, ServiceName: "shop", NodeName: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := tr.Tracer().Start(t.Context(), "GET /orders/{id}")
	_, child := tr.Tracer().Start(ctx, "invoke api v3")
	child.End()
	root.End()

	// Shutdown flushes the exporter.
	sctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	spans, services, bad := col.received()
	if len(bad) > 0 {
		t.Errorf("collector saw bad requests: %q", bad)
	}
	names := map[string]*tracepb.Span{}
	for i, s := range spans {
		names[s.Name] = s
		if services[i] != "shop" {
			t.Errorf("span %q has service.name %q, want shop", s.Name, services[i])
		}
	}
	r, c := names["GET /orders/{id}"], names["invoke api v3"]
	if len(spans) != 2 || r == nil || c == nil {
		t.Fatalf("collector received %d spans %v, want the two ended", len(spans), slices.Collect(maps.Keys(names)))
	}
	if !bytes.Equal(c.ParentSpanId, r.SpanId) || !bytes.Equal(c.TraceId, r.TraceId) {
		t.Errorf("child span is not under its parent in the export")
	}
	tid := root.SpanContext().TraceID()
	if !bytes.Equal(r.TraceId, tid[:]) {
		t.Errorf("exported trace id %x, want %s", r.TraceId, tid)
	}
	if st := tr.Stats(); st.Exported != 2 || st.ExportFailed != 0 || st.Stored != 2 {
		t.Errorf("stats %+v, want 2 exported and 2 stored", st)
	}
}

func TestOTLPExportFailureIsCounted(t *testing.T) {
	b := startBus(t)
	col := startCollector(t, http.StatusBadRequest) // not retried
	tr, err := New(t.Context(), Config{JetStream: b.JetStream(), OTLPEndpoint: col.srv.URL + "/v1/traces"})
	if err != nil {
		t.Fatal(err)
	}
	_, s := tr.Tracer().Start(t.Context(), "refused")
	s.End()
	sctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if spans, _, _ := col.received(); len(spans) != 1 {
		t.Errorf("collector received %d spans, want 1", len(spans))
	}
	st := tr.Stats()
	if st.ExportFailed != 1 || st.Exported != 0 || st.LastExportError == nil {
		t.Errorf("stats %+v, want 1 failed export with its error", st)
	}
	// The local store does not depend on the collector.
	if st.Stored != 1 {
		t.Errorf("stored %d spans, want 1", st.Stored)
	}
}

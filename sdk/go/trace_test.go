package gureum

import (
	"context"
	"testing"
)

func TestTraceParent(t *testing.T) {
	const w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct{ in, want string }{
		{w3c, w3c},
		{"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1", w3c},
		{"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736", ""},
		{"Root=2-zz;Parent=x", ""},
		{"", ""},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""},
	} {
		ctx := context.WithValue(context.Background(), traceKey, tc.in)
		if got := TraceParent(ctx); got != tc.want {
			t.Errorf("TraceParent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzTraceParent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1")
	f.Fuzz(func(t *testing.T, s string) {
		got := toTraceParent(s)
		if got != "" && toTraceParent(got) != got {
			t.Fatalf("%q → %q does not read back", s, got)
		}
	})
}

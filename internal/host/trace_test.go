package host

import "testing"

func TestTraceParent(t *testing.T) {
	for in, want := range map[string]string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":                      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 ":                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1":   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=0":   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"Parent=b7ad6b7169203331; Root=1-0af76519-16cd43dd8448eb211c80319c; Lineage=x": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"Root=1-0af76519-16cd43dd8448eb211c80319c":                                     "", // no parent
		"Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=0000000000000000":             "",
		"Root=1-00000000-000000000000000000000000;Parent=b7ad6b7169203331":             "",
		"Root=1-0AF76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331":             "",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01":                      "",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01":                      "",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01":                      "",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g":                      "",
		"":        "",
		"garbage": "",
	} {
		if got := TraceParent(in); got != want {
			t.Errorf("TraceParent(%q) = %q, want %q", in, got, want)
		}
	}
}

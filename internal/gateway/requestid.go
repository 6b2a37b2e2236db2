package gateway

import "github.com/gureum/gureum/internal/invoke"

// newRequestID returns a request id in the shape of Lambda's (a UUID); see
// invoke.NewRequestID.
func newRequestID() string { return invoke.NewRequestID() }

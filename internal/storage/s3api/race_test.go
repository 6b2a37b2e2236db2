//go:build race

package s3api_test

// raceEnabled shrinks the large upload under the race detector, which
// slows the store's hashing and JetStream many times over.
const raceEnabled = true

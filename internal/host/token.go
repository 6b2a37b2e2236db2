package host

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// A token names a function version and proves that a node made it:
//
//	gh1.<base64url(payload)>.<base64url(HMAC-SHA256(key, "gureum host token v1\n" + payload))>
//
// where payload is the function name's length as a uvarint, the name, then
// the version. Tokens do not expire: a process function keeps its token for
// the life of its instances, and a function version's grants never change.
// Changing the key revokes every token; nodes that share one JetStream share
// one key, so that a token made by one is accepted by all.
const (
	tokenPrefix = "gh1."
	tokenDomain = "gureum host token v1\n"
	// MinKeyBytes is the shortest key VerifyToken accepts.
	MinKeyBytes = 32
	maxTokenLen = 4096
)

var b64 = base64.RawURLEncoding

// Token returns the host API token of a function version, signed with key
// (at least MinKeyBytes of secret randomness).
func Token(key []byte, function, version string) string {
	payload := binary.AppendUvarint(nil, uint64(len(function)))
	payload = append(payload, function...)
	payload = append(payload, version...)
	return tokenPrefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(sign(key, payload))
}

// VerifyToken checks token against key and returns the function version it
// names. Every failure wraps ErrUnauthorized.
func VerifyToken(key []byte, token string) (function, version string, err error) {
	if len(key) < MinKeyBytes {
		return "", "", fmt.Errorf("%w: the node's key is shorter than %d bytes", ErrUnauthorized, MinKeyBytes)
	}
	if len(token) > maxTokenLen {
		return "", "", fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	enc, encMAC, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", "", fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	payload, err1 := b64.DecodeString(enc)
	mac, err2 := b64.DecodeString(encMAC)
	if err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	if !hmac.Equal(mac, sign(key, payload)) {
		return "", "", fmt.Errorf("%w: the token's signature does not match", ErrUnauthorized)
	}
	n, size := binary.Uvarint(payload)
	if size <= 0 || n > uint64(len(payload)-size) {
		return "", "", fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	payload = payload[size:]
	return string(payload[:n]), string(payload[n:]), nil
}

func sign(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// IsToken reports whether s has the form of a host token (it may still
// fail VerifyToken).
func IsToken(s string) bool { return strings.HasPrefix(s, tokenPrefix) }

// TokenResolver returns a resolver for Handler: it verifies a token with key
// and asks grants for the grants of the function version it names. grants
// should wrap ErrUnauthorized when that version no longer exists, so that its
// old tokens are refused.
func TokenResolver(key []byte, grants func(ctx context.Context, function, version string) (Grants, error)) func(ctx context.Context, token string) (Caller, error) {
	return func(ctx context.Context, token string) (Caller, error) {
		fn, ver, err := VerifyToken(key, token)
		if err != nil {
			return Caller{}, err
		}
		g, err := grants(ctx, fn, ver)
		if err != nil {
			return Caller{}, err
		}
		return Caller{Function: fn, Version: ver, Grants: g}, nil
	}
}

// Package config holds a node's configuration as plain data: Default, Validate
// and FromEnv. No other package reads the environment.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is everything one gureum node needs to start.
type Config struct {
	// Listen is the address of the node's HTTP listener: user routes, the
	// Lambda Invoke API, /healthz, /metrics and (unless AdminListen is set)
	// the admin API.
	Listen string
	// AdminListen, when set, moves the admin API and /metrics to their own address.
	AdminListen string
	// S3Listen is the address of the S3-compatible API, which owns the
	// whole path of its listener; "off" serves none.
	S3Listen string
	// DataDir holds the embedded JetStream store, the compilation cache, the
	// local artifact cache and the admin token.
	DataDir string
	// NATSURL joins an external NATS (JetStream) instead of the embedded server.
	NATSURL string
	// NATSListen lets other nodes and clients reach the embedded NATS server.
	NATSListen string
	// Token is the admin token; empty means: read it from DataDir, or create it there.
	Token string
	// IdleTimeout is how long an idle instance beyond the provisioned ones is
	// kept warm before it is stopped (scale to zero).
	IdleTimeout time.Duration
	// SnapshotStandby keeps, for each wasm function restored from a
	// snapshot, one instance instantiated from it ahead of the next cold
	// start, which then only runs the restore hook.
	SnapshotStandby bool
	// DrainTimeout bounds a graceful shutdown: in-flight invocations get this
	// long to finish.
	DrainTimeout time.Duration
	// DefaultConcurrency is a function's concurrency limit when it sets none.
	DefaultConcurrency int
	// MaxBodyBytes is the largest request body the gateway accepts.
	MaxBodyBytes int64
	// LogRetention is how long function logs are kept.
	LogRetention time.Duration
	// Region names the node's region in ARNs and in Signature V4 scopes.
	Region string
	// AccessKeyID and SecretAccessKey, when both are set, make the
	// AWS-compatible APIs (the Lambda Invoke API and the S3 API) verify Signature V4 and
	// refuse requests not signed with them. When empty, any credentials are
	// accepted: the local default.
	AccessKeyID     string
	SecretAccessKey string
	// AsyncRetryBase is the delay before the first retry of a failed
	// asynchronous invocation; each later retry waits twice as long (AWS
	// waits about 1 and then 2 minutes).
	AsyncRetryBase time.Duration
	// EventRetryBase is the delay before a topic subscription's first
	// delivery retry; later retries back off exponentially.
	EventRetryBase time.Duration
	// LogFormat is the platform log's format: "text" or "json".
	LogFormat string
	// LogLevel is the platform log's level: debug, info, warn or error.
	LogLevel string
	// Observe turns invocation records, metrics and traces on (the default).
	// Off exists to measure what they cost.
	Observe bool
	// RecordRetention is how long invocation records are kept.
	RecordRetention time.Duration
	// TraceRetention is how long spans are kept in the node's trace store.
	TraceRetention time.Duration
	// TraceSampleRatio is the share of new traces (requests that bring no
	// sampled traceparent) recorded beyond the first of every second, as
	// X-Ray's default rule; 1 records every trace.
	TraceSampleRatio float64
	// OTLPEndpoint, when set, also exports spans over OTLP/HTTP to this
	// collector, e.g. http://127.0.0.1:4318.
	OTLPEndpoint string
	// PricePerRequest and PricePerGBSecond are the cost report's prices (USD);
	// the defaults are AWS Lambda's x86 list prices, as a reference point.
	PricePerRequest  float64
	PricePerGBSecond float64
	// Env is the environment handed to build tools (the Go toolchain).
	Env []string
}

// Default returns the configuration of a node started with no flags.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		S3Listen:           "127.0.0.1:9000",
		DataDir:            ".gureum",
		IdleTimeout:        10 * time.Minute,
		SnapshotStandby:    true,
		DrainTimeout:       30 * time.Second,
		DefaultConcurrency: 100,
		MaxBodyBytes:       6 << 20,
		LogRetention:       7 * 24 * time.Hour,
		Region:             "us-east-1",
		AsyncRetryBase:     time.Minute,
		EventRetryBase:     time.Second,
		LogFormat:          "text",
		LogLevel:           "info",
		Observe:            true,
		RecordRetention:    7 * 24 * time.Hour,
		TraceRetention:     24 * time.Hour,
		TraceSampleRatio:   0.05,
		PricePerRequest:    0.20 / 1e6,
		PricePerGBSecond:   0.0000166667,
	}
}

// FromEnv overlays GUREUM_* variables from env (KEY=VALUE strings) on c.
func (c Config) FromEnv(env []string) (Config, error) {
	var errs []error
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "GUREUM_") {
			continue
		}
		switch k {
		case "GUREUM_LISTEN":
			c.Listen = v
		case "GUREUM_ADMIN_LISTEN":
			c.AdminListen = v
		case "GUREUM_S3_LISTEN":
			c.S3Listen = v
		case "GUREUM_DATA":
			c.DataDir = v
		case "GUREUM_NATS":
			c.NATSURL = v
		case "GUREUM_TOKEN":
			c.Token = v
		case "GUREUM_REGION":
			c.Region = v
		case "GUREUM_ACCESS_KEY_ID":
			c.AccessKeyID = v
		case "GUREUM_SECRET_ACCESS_KEY":
			c.SecretAccessKey = v
		case "GUREUM_IDLE_TIMEOUT":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_IDLE_TIMEOUT: %w", err))
			}
			c.IdleTimeout = d
		case "GUREUM_ASYNC_RETRY_BASE":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_ASYNC_RETRY_BASE: %w", err))
			}
			c.AsyncRetryBase = d
		case "GUREUM_EVENT_RETRY_BASE":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_EVENT_RETRY_BASE: %w", err))
			}
			c.EventRetryBase = d
		case "GUREUM_SNAPSHOT_STANDBY":
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_SNAPSHOT_STANDBY: %w", err))
			}
			c.SnapshotStandby = b
		case "GUREUM_LOG_FORMAT":
			c.LogFormat = v
		case "GUREUM_LOG_LEVEL":
			c.LogLevel = v
		case "GUREUM_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT":
			c.OTLPEndpoint = v
		case "GUREUM_RECORD_RETENTION":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_RECORD_RETENTION: %w", err))
			}
			c.RecordRetention = d
		case "GUREUM_DEFAULT_CONCURRENCY":
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("GUREUM_DEFAULT_CONCURRENCY: %w", err))
			}
			c.DefaultConcurrency = n
		}
	}
	c.Env = env
	return c, errors.Join(errs...)
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	check := func(name, addr string) {
		if addr == "" {
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port, e.g. 127.0.0.1:8080", name, addr))
		}
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is empty; e.g. --listen 127.0.0.1:8080"))
	}
	check("listen", c.Listen)
	check("admin-listen", c.AdminListen)
	if c.S3Listen != "off" {
		check("s3-listen", c.S3Listen)
	}
	check("nats-listen", c.NATSListen)
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is empty; e.g. --data .gureum"))
	}
	if c.NATSURL != "" && !strings.Contains(c.NATSURL, "://") {
		errs = append(errs, fmt.Errorf("nats url %q: want a URL such as nats://127.0.0.1:4222", c.NATSURL))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, errors.New("access key id and secret access key go together: set both or neither"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("region is empty; e.g. --region us-east-1"))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %s: must be positive", c.IdleTimeout))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain timeout %s: must not be negative", c.DrainTimeout))
	}
	if c.DefaultConcurrency < 1 {
		errs = append(errs, fmt.Errorf("default concurrency %d: must be at least 1", c.DefaultConcurrency))
	}
	if c.AsyncRetryBase <= 0 || c.EventRetryBase <= 0 {
		errs = append(errs, fmt.Errorf("async retry base %s and event retry base %s: must be positive", c.AsyncRetryBase, c.EventRetryBase))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.RecordRetention <= 0 || c.TraceRetention <= 0 {
		errs = append(errs, fmt.Errorf("record retention %s and trace retention %s: must be positive", c.RecordRetention, c.TraceRetention))
	}
	if !(c.TraceSampleRatio > 0 && c.TraceSampleRatio <= 1) {
		errs = append(errs, fmt.Errorf("trace sample ratio %v: want more than 0 and at most 1", c.TraceSampleRatio))
	}
	if c.OTLPEndpoint != "" && !strings.Contains(c.OTLPEndpoint, "://") {
		errs = append(errs, fmt.Errorf("otlp endpoint %q: want a URL such as http://127.0.0.1:4318", c.OTLPEndpoint))
	}
	if c.PricePerRequest < 0 || c.PricePerGBSecond < 0 {
		errs = append(errs, errors.New("prices must not be negative"))
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("max body bytes %d: must be at least 1", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Logger returns the platform logger c asks for, writing to w.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Path returns a path inside the data directory.
func (c Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.DataDir}, elem...)...)
}

// Package bus connects a node to NATS JetStream: either a server embedded in
// the process (the default, with its store in the node's data directory) or an
// external NATS cluster shared by several nodes. Everything else in gureum
// reaches JetStream through the connection a Bus holds, so no code path
// depends on which of the two it is.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrInvalidConfig reports a Config that cannot be started; match with errors.Is.
var ErrInvalidConfig = errors.New("invalid bus config")

// MaxPayload is the largest NATS message the embedded server accepts.
const MaxPayload = 8 << 20

// readyTimeout bounds how long Start waits for the embedded server when ctx
// carries no deadline of its own.
const readyTimeout = 10 * time.Second

// Config selects and configures the NATS a node uses.
type Config struct {
	// DataDir holds the embedded server's JetStream store (under DataDir/nats).
	// Unused with URL.
	DataDir string
	// URL connects to an external NATS server or cluster with JetStream
	// enabled (e.g. nats://127.0.0.1:4222, or several URLs separated by
	// commas). Empty starts the embedded server.
	URL string
	// Listen (embedded only) also accepts NATS clients on this host:port, so a
	// second node or a NATS tool can join. Port 0 picks a free port; see
	// ClientURL. Empty means no TCP listener: the node talks to its server
	// in-process only.
	Listen string
	// Name names the embedded server and the client connection (as seen in
	// NATS monitoring). Servers in one cluster need distinct names.
	Name string
	// Replicas is the replication factor of the streams, buckets and object
	// stores created through this Bus. 0 means 1. The embedded server is a
	// single node, so it accepts only 1; a three-node cluster can use 3.
	Replicas int
	// Debug sends the embedded server's log to standard error.
	Debug bool
	// OnAsyncError receives errors the connection reports outside any call
	// (a slow consumer, a consumer deleted under a subscription); nil drops them.
	OnAsyncError func(subject string, err error)
}

// Bus is a live connection to JetStream and, in embedded mode, the server
// behind it. Create it with Start and stop it with Shutdown.
type Bus struct {
	cfg    Config
	srv    *server.Server // nil with an external URL
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{} // closed when nc is closed

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start starts the embedded server (or connects to cfg.URL) and returns once
// JetStream can be used. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 0 {
		return nil, fmt.Errorf("start bus: replicas %d: %w", cfg.Replicas, ErrInvalidConfig)
	}
	b := &Bus{cfg: cfg, closed: make(chan struct{})}
	var err error
	if cfg.URL == "" {
		err = b.startEmbedded(ctx)
	} else {
		err = b.connectExternal(ctx)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bus) startEmbedded(ctx context.Context) error {
	cfg := b.cfg
	if cfg.DataDir == "" {
		return fmt.Errorf("start embedded nats: data dir is required: %w", ErrInvalidConfig)
	}
	if cfg.Replicas != 1 {
		return fmt.Errorf("start embedded nats: a single server holds %d replicas, not 1: %w", cfg.Replicas, ErrInvalidConfig)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		NoSigs:     true,
		NoLog:      !cfg.Debug,
		Debug:      cfg.Debug,
		DontListen: cfg.Listen == "",
		// Events carry payloads of up to 1 MiB (Lambda's async limit) plus
		// headers; NATS's default of 1 MiB per message is too small for
		// them. An external NATS needs max_payload raised the same way.
		MaxPayload: MaxPayload,
	}
	if cfg.Listen != "" {
		host, port, err := splitListen(cfg.Listen)
		if err != nil {
			return fmt.Errorf("start embedded nats: listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("start embedded nats: %w", err)
	}
	if cfg.Debug {
		srv.ConfigureLogger()
	}
	srv.Start()
	wait := readyTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("start embedded nats: server not ready within %s", wait)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.New("start embedded nats: jetstream did not start (see the server log with debug on)")
	}
	b.srv = srv
	if err := b.connect(ctx, "", nats.InProcessServer(srv)); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("start embedded nats: %w", err)
	}
	return nil
}

func (b *Bus) connectExternal(ctx context.Context) error {
	if b.cfg.Listen != "" {
		return fmt.Errorf("connect to %s: listen is for the embedded server only: %w", b.cfg.URL, ErrInvalidConfig)
	}
	opts := []nats.Option{nats.MaxReconnects(-1)}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 0 {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	if err := b.connect(ctx, b.cfg.URL, opts...); err != nil {
		return fmt.Errorf("connect to %s: %w", b.cfg.URL, err)
	}
	// Fail now, with a clear cause, when the server has no JetStream.
	if _, err := b.js.AccountInfo(ctx); err != nil {
		b.nc.Close()
		return fmt.Errorf("connect to %s: jetstream: %w", b.cfg.URL, err)
	}
	return nil
}

// connect dials url (or the in-process server given in extra) and sets up
// the JetStream context.
func (b *Bus) connect(ctx context.Context, url string, extra ...nats.Option) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var once sync.Once
	opts := append([]nats.Option{
		nats.Name(b.cfg.Name),
		nats.ClosedHandler(func(*nats.Conn) { once.Do(func() { close(b.closed) }) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if b.cfg.OnAsyncError != nil {
				subject := ""
				if sub != nil {
					subject = sub.Subject
				}
				b.cfg.OnAsyncError(subject, err)
			}
		}),
	}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("nats connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	return nil
}

// splitListen parses host:port; port 0 becomes the server's "random port".
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", err, ErrInvalidConfig)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: %w", p, ErrInvalidConfig)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// Conn is the node's NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the node's JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Embedded reports whether the server runs inside this process.
func (b *Bus) Embedded() bool { return b.srv != nil }

// Replicas is the replication factor for streams, buckets and object stores.
func (b *Bus) Replicas() int { return b.cfg.Replicas }

// ClientURL is the nats:// URL other nodes and clients can connect to: the
// embedded server's listener (empty without Listen), or the URL this node is
// connected to.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return b.nc.ConnectedUrl()
	}
	if b.cfg.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// KeyValue creates the bucket described by cfg, or updates it to cfg when it
// exists, with the Bus's replica count when cfg sets none.
func (b *Bus) KeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = b.cfg.Replicas
	}
	return EnsureKeyValue(ctx, b.js, cfg)
}

// ObjectStore creates the object store described by cfg, or updates it to
// cfg when it exists, with the Bus's replica count when cfg sets none.
func (b *Bus) ObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = b.cfg.Replicas
	}
	return EnsureObjectStore(ctx, b.js, cfg)
}

// Shutdown drains the connection (pending publishes and subscriptions
// finish) and stops the embedded server. A ctx that ends first cuts the drain
// short. Calling it again returns the first call's result.
func (b *Bus) Shutdown(ctx context.Context) error {
	b.shutdownOnce.Do(func() { b.shutdownErr = b.shutdown(ctx) })
	return b.shutdownErr
}

func (b *Bus) shutdown(ctx context.Context) error {
	var errs []error
	if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, fmt.Errorf("drain nats connection: %w", err))
		b.nc.Close()
	}
	select {
	case <-b.closed:
	case <-ctx.Done():
		b.nc.Close()
		errs = append(errs, fmt.Errorf("drain nats connection: %w", ctx.Err()))
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if len(errs) > 0 {
		return fmt.Errorf("shutdown bus: %w", errors.Join(errs...))
	}
	return nil
}

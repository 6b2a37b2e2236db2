package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/config"
	"github.com/gureum/gureum/internal/manifest"
	"github.com/gureum/gureum/internal/project"
	"github.com/gureum/gureum/internal/server"
	"github.com/gureum/gureum/internal/version"
)

func newUp(env IO) *cobra.Command {
	cfg := config.Default()
	var envErr error
	cfg, envErr = cfg.FromEnv(env.Env)
	cmd := &cobra.Command{
		Use:   "up [PROJECT_DIR]",
		Short: "Start a gureum node (embedded NATS JetStream by default) and deploy a project to it",
		Long: `Start one gureum node: an embedded NATS JetStream server storing under the data
directory, the HTTP gateway and the admin API. With PROJECT_DIR, the project's
gureum.yaml is built and deployed to the node once it is ready. Functions deployed
before are served again after a restart with the same data directory.

SIGINT or SIGTERM stops the node: it stops accepting requests, lets in-flight
invocations finish within the drain timeout, then exits.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if envErr != nil {
				return envErr
			}
			cfg.DataDir = env.resolve(cfg.DataDir)
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runUp(cmd.Context(), env, cfg, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address of the HTTP listener (routes, Lambda API, admin API)")
	f.StringVar(&cfg.AdminListen, "admin-listen", cfg.AdminListen, "serve the admin API and /metrics on this address instead")
	f.StringVar(&cfg.S3Listen, "s3-listen", cfg.S3Listen, `address of the S3-compatible API, or "off" (env GUREUM_S3_LISTEN)`)
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (JetStream store, caches, admin token)")
	f.StringVar(&cfg.NATSURL, "nats", cfg.NATSURL, "join this external NATS JetStream instead of the embedded one, e.g. nats://127.0.0.1:4222")
	f.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen, "let other nodes reach the embedded NATS server on this address")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "stop idle instances beyond the provisioned ones after this long (scale to zero)")
	f.BoolVar(&cfg.SnapshotStandby, "snapshot-standby", cfg.SnapshotStandby, "keep one instance per snapshot-enabled wasm function instantiated ahead of its next cold start (env GUREUM_SNAPSHOT_STANDBY)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "on shutdown, how long in-flight invocations may take to finish")
	f.StringVar(&cfg.Region, "region", cfg.Region, "region named in ARNs and Signature V4 scopes")
	f.StringVar(&cfg.AccessKeyID, "access-key-id", cfg.AccessKeyID, "verify Signature V4 on the AWS-compatible APIs with this key (env GUREUM_ACCESS_KEY_ID; default: accept any)")
	f.StringVar(&cfg.SecretAccessKey, "secret-access-key", cfg.SecretAccessKey, "secret of --access-key-id (env GUREUM_SECRET_ACCESS_KEY)")
	f.IntVar(&cfg.DefaultConcurrency, "default-concurrency", cfg.DefaultConcurrency, "concurrency limit of a function that sets none")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "platform log format: text or json (env GUREUM_LOG_FORMAT)")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "platform log level: debug, info, warn or error (env GUREUM_LOG_LEVEL)")
	f.DurationVar(&cfg.RecordRetention, "record-retention", cfg.RecordRetention, "how long invocation records are kept")
	f.Float64Var(&cfg.TraceSampleRatio, "trace-sample", cfg.TraceSampleRatio, "share of new traces recorded beyond the first each second (1 = every request); requests with a sampled traceparent are always traced")
	f.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", cfg.OTLPEndpoint, "also export traces over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (env GUREUM_OTLP_ENDPOINT)")
	f.Float64Var(&cfg.PricePerRequest, "price-per-request", cfg.PricePerRequest, "cost report: USD per request (default: AWS Lambda's x86 list price)")
	f.Float64Var(&cfg.PricePerGBSecond, "price-per-gb-second", cfg.PricePerGBSecond, "cost report: USD per GB-second (default: AWS Lambda's x86 list price)")
	return cmd
}

func runUp(ctx context.Context, env IO, cfg config.Config, args []string) error {
	started := time.Now()
	var proj *manifest.Project
	if len(args) == 1 {
		// A broken manifest is reported before the node starts.
		p, err := project.Load(env.resolve(args[0]))
		if err != nil {
			return err
		}
		proj = p
	}
	srv, err := server.New(cfg, server.WithLogger(cfg.Logger(env.Stderr)))
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	out := env.Stdout
	fmt.Fprintf(out, "gureum %s ready in %s\n", version.Version, time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(out, "  gateway  http://%s\n", srv.Addr())
	fmt.Fprintf(out, "  admin    http://%s/_gureum/v1  (token in %s)\n", srv.AdminAddr(), cfg.Path("token"))
	if a := srv.S3Addr(); a != "" {
		keys := "any access key accepted"
		if cfg.AccessKeyID != "" {
			keys = "access key " + cfg.AccessKeyID
		}
		fmt.Fprintf(out, "  s3       http://%s  (path-style, %s)\n", a, keys)
	}
	fmt.Fprintf(out, "  data     %s\n", cfg.DataDir)

	var deployErr error
	if proj != nil {
		deployErr = deployProject(ctx, env, localDeployer{srv}, proj)
	}
	if deployErr == nil {
		if err := printRoutes(ctx, env, srv); err != nil {
			deployErr = err
		}
	}
	if deployErr == nil {
		<-ctx.Done()
		fmt.Fprintln(out, "stopping: draining in-flight invocations")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout+10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return errors.Join(deployErr, err)
	}
	return deployErr
}

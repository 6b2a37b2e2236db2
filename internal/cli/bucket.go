package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

func newBucketCmd(env IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bucket",
		Short: "Create, list and remove buckets",
		Long: `A bucket holds objects by key, as an S3 bucket does, and emits an event for every
object created or removed. These commands manage the buckets; the objects go
through the node's S3-compatible API (--s3-listen, 127.0.0.1:9000 by default),
so any S3 client works, e.g. the AWS CLI:

  aws --endpoint-url http://127.0.0.1:9000 s3 cp photo.png s3://uploads/images/`,
	}
	cmd.AddCommand(
		newBucketCreate(env),
		newBucketLs(env),
		newBucketRm(env),
	)
	return cmd
}

func newBucketCreate(env IO) *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a bucket (nothing changes if it exists)",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := checkOutput(output, "text"); err != nil {
				return err
			}
			info, created, err := c.PutBucket(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("bucket %s: %w", args[0], explainStorage(err))
			}
			if output == "json" {
				return printJSON(env.Stdout, info)
			}
			if created {
				fmt.Fprintf(env.Stdout, "created bucket %s\n", info.Name)
			} else {
				fmt.Fprintf(env.Stdout, "bucket %s exists (%d objects)\n", info.Name, info.Objects)
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	outputFlag(cmd, &output, "text")
	return cmd
}

func newBucketLs(env IO) *cobra.Command {
	return listCmd[admin.BucketInfo]{
		short: "List buckets with their object counts and sizes",
		fetch: func(c *apiclient.Client, ctx context.Context) ([]admin.BucketInfo, error) {
			bs, err := c.Buckets(ctx)
			return bs, explainStorage(err)
		},
		empty:  "no buckets; create one with 'gureum bucket create NAME'",
		header: "NAME\tOBJECTS\tBYTES\tAPP\tCREATED",
		row: func(w io.Writer, b admin.BucketInfo, now time.Time) {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", b.Name, b.Objects, b.Bytes, orDash(b.App), when(b.CreatedAt, now))
		},
	}.command(env)
}

func newBucketRm(env IO) *cobra.Command {
	var cf clientFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove empty buckets (--force: with their objects)",
		Long: `Remove buckets. A bucket that holds objects is removed only with --force, which
first removes every object (each removal an object event, as a delete through
the S3 API would be) and every unfinished multipart upload.`,
		Args: cobra.MinimumNArgs(1),
		RunE: withClient(env, &cf, func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			for _, name := range args {
				if err := c.DeleteBucket(cmd.Context(), name, force); err != nil {
					if apiclient.HasCode(err, admin.CodeBucketNotEmpty) {
						err = fmt.Errorf("%w; remove its objects first, or pass --force to remove them with it", err)
					}
					return fmt.Errorf("remove bucket %s: %w", name, explainStorage(err))
				}
				fmt.Fprintf(env.Stdout, "removed bucket %s\n", name)
			}
			return nil
		}),
	}
	cf.register(cmd, env)
	cmd.Flags().BoolVar(&force, "force", false, "remove the buckets' objects too")
	return cmd
}

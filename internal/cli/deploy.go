package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/manifest"
	"github.com/gureum/gureum/internal/project"
	"github.com/gureum/gureum/internal/registry"
	"github.com/gureum/gureum/internal/server"
)

// deployer is where a built project goes: a remote node's admin API or the
// node this process runs.
type deployer interface {
	UploadArtifact(ctx context.Context, path, hash string) error
	Deploy(ctx context.Context, req admin.DeployRequest) (*admin.DeployResult, error)
}

func newDeploy(env IO) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "deploy [PROJECT_DIR]",
		Short: "Build a project and deploy it to a running node",
		Long: `Build every function of the project's gureum.yaml, upload the artifacts and
activate them. Each deploy that changes a function makes a new immutable numbered
version and moves $LATEST to it; a function whose code and configuration did not
change keeps its version. Functions of the same app that the manifest no longer
declares are removed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			// The manifest is checked before anything else, node or not.
			p, err := project.Load(env.resolve(dir))
			if err != nil {
				return err
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			return deployProject(cmd.Context(), env, c, p)
		},
	}
	cf.register(cmd, env)
	return cmd
}

func deployProject(ctx context.Context, env IO, to deployer, p *manifest.Project) error {
	out, err := os.MkdirTemp("", "gureum-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	built, err := project.Build(ctx, p, project.Options{OutDir: out, Env: env.Env, Progress: env.Stdout})
	if err != nil {
		return err
	}
	for _, a := range built.Artifacts {
		if err := to.UploadArtifact(ctx, a.Path, a.Hash); err != nil {
			return fmt.Errorf("function %s: %w", a.Function, err)
		}
	}
	res, err := to.Deploy(ctx, built.Request())
	if err != nil {
		return fmt.Errorf("deploy %s: %w", built.App, err)
	}
	for _, f := range res.Functions {
		state := "deployed"
		if !f.Changed {
			state = "unchanged"
		}
		fmt.Fprintf(env.Stdout, "%s %s version %d%s\n", state, f.Name, f.Version, routeList(f.Routes))
	}
	for _, name := range res.Removed {
		fmt.Fprintf(env.Stdout, "removed %s (no longer in %s)\n", name, p.File)
	}
	return nil
}

func routeList(rs []registry.Route) string {
	if len(rs) == 0 {
		return ""
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Method + " " + r.Path
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// localDeployer deploys into the node running in this process.
type localDeployer struct{ srv *server.Server }

func (d localDeployer) UploadArtifact(ctx context.Context, path, hash string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	got, _, err := d.srv.PutArtifact(ctx, f)
	if err != nil {
		return err
	}
	if got != hash {
		return fmt.Errorf("artifact %s changed while it was being deployed", path)
	}
	return nil
}

func (d localDeployer) Deploy(ctx context.Context, req admin.DeployRequest) (*admin.DeployResult, error) {
	return d.srv.Deploy(ctx, req)
}

func printRoutes(ctx context.Context, env IO, srv *server.Server) error {
	fns, err := srv.Functions(ctx)
	if err != nil {
		return err
	}
	var lines []string
	for _, f := range fns {
		for _, r := range f.Routes {
			lines = append(lines, fmt.Sprintf("  %-7s http://%s%s\t→ %s", r.Method, srv.Addr(), r.Path, f.Name))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	fmt.Fprintln(env.Stdout, "routes:")
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	return tw.Flush()
}

// Package cli is gureum's command line: one file per command, all built on
// cobra. Run is the testable entry point; cmd/gureum only wires the process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/apiclient"
	"github.com/gureum/gureum/internal/version"
)

// IO is what a command run sees of its process.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    []string // KEY=VALUE
	Dir    string   // working directory; "" = the process's
}

func (e IO) getenv(key string) string {
	for i := len(e.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e.Env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ExitError carries a specific exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs gureum with the process's environment.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, IO{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Env: os.Environ()})
}

// Run runs one gureum command line and returns the process exit code.
func Run(ctx context.Context, args []string, env IO) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil && ee.Err.Error() != "" {
			fmt.Fprintf(env.Stderr, "gureum: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(env.Stderr, "gureum: %v\n", err)
	return 1
}

// clientFlags are the flags of every command that talks to a running node.
type clientFlags struct {
	url   string
	token string
	data  string
}

func (f *clientFlags) register(cmd *cobra.Command, env IO) {
	def := env.getenv("GUREUM_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	cmd.Flags().StringVar(&f.url, "url", def, "address of the gureum node (env GUREUM_URL)")
	cmd.Flags().StringVar(&f.token, "token", "", "admin token (env GUREUM_TOKEN; default: read from the data directory)")
	dataDef := env.getenv("GUREUM_DATA")
	if dataDef == "" {
		dataDef = ".gureum"
	}
	cmd.Flags().StringVar(&f.data, "data-dir", dataDef, "data directory of a local node, where its admin token is (env GUREUM_DATA)")
}

func (f *clientFlags) client(env IO) (*apiclient.Client, error) {
	token := f.token
	if token == "" {
		token = env.getenv("GUREUM_TOKEN")
	}
	if token == "" {
		path := f.data
		if !filepath.IsAbs(path) && env.Dir != "" {
			path = filepath.Join(env.Dir, path)
		}
		b, err := os.ReadFile(filepath.Join(path, "token"))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --token, set GUREUM_TOKEN, or run where the node's data directory (%s) is", f.data)
		}
		token = strings.TrimSpace(string(b))
	}
	return apiclient.New(strings.TrimRight(f.url, "/"), token), nil
}

func newRoot(env IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "gureum",
		Short:         "gureum runs serverless functions, events and workflows from one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.AddCommand(
		newUp(env),
		newDeploy(env),
		newLs(env),
		newRm(env),
		newVersions(env),
		newInvoke(env),
		newLogs(env),
		newQueue(env),
		newTopic(env),
		newSchedule(env),
		newDLQ(env),
		newInvocations(env),
		newInvocation(env),
		newTrace(env),
		newCost(env),
		newLint(env),
		newTableCmd(env),
		newBucketCmd(env),
	)
	return root
}

// resolve makes a path relative to the command's working directory.
func (e IO) resolve(p string) string {
	if filepath.IsAbs(p) || e.Dir == "" {
		return p
	}
	return filepath.Join(e.Dir, p)
}

package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/lint"
	"github.com/gureum/gureum/internal/project"
)

func newLint(env IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "lint [PROJECT_DIR]",
		Short: "Check a project's grants for least privilege",
		Long: `Check the manifest, then each function's grants against its Go source: wildcard
grants, write grants on tables and buckets the code only reads, grants the code
never uses, and uses no grant allows. Nothing is built and no node is needed.

Each finding is printed as FILE:LINE: CODE: message; see docs/lint.md. The exit
code is 1 when a finding is an error (a call the grants would refuse) or the
manifest has problems, 0 otherwise.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			p, err := project.Load(env.resolve(dir))
			if err != nil {
				return err
			}
			findings := lint.Lint(p, lint.GoSource{})
			if output == "json" {
				if findings == nil {
					findings = []lint.Finding{}
				}
				if err := printJSON(env.Stdout, findings); err != nil {
					return err
				}
			} else {
				file := lintPath(env, p.File)
				for _, f := range findings {
					fmt.Fprintf(env.Stdout, "%s:%d: %s: %s\n", file, f.Line, f.Code, f.Message)
				}
				if len(findings) == 0 {
					fmt.Fprintf(env.Stderr, "%s: %d functions, no grant broader than their code needs\n", file, len(p.Functions))
				} else {
					fmt.Fprintf(env.Stderr, "%s: %d findings\n", file, len(findings))
				}
			}
			switch n := lintErrors(findings); n {
			case 0:
			case 1:
				return &ExitError{Code: 1, Err: fmt.Errorf("1 finding is an error: a call the grants would refuse")}
			default:
				return &ExitError{Code: 1, Err: fmt.Errorf("%d findings are errors: calls the grants would refuse", n)}
			}
			return nil
		},
	}
	outputFlag(cmd, &output, "text")
	return cmd
}

func lintErrors(fs []lint.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == lint.Error {
			n++
		}
	}
	return n
}

// lintPath writes a path relative to the working directory when it is
// inside it, as a user would type it.
func lintPath(e IO, path string) string {
	wd := e.Dir
	if wd == "" {
		var err error
		if wd, err = filepath.Abs("."); err != nil {
			return path
		}
	}
	if r, err := filepath.Rel(wd, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}

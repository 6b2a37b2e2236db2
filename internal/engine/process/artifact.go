package process

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gureum/gureum/internal/engine"
)

// elfMachine returns the ELF machine of executables a GOARCH runs.
func elfMachine(goarch string) (elf.Machine, bool) {
	switch goarch {
	case "amd64":
		return elf.EM_X86_64, true
	case "arm64":
		return elf.EM_AARCH64, true
	case "386":
		return elf.EM_386, true
	case "arm":
		return elf.EM_ARM, true
	case "riscv64":
		return elf.EM_RISCV, true
	case "ppc64", "ppc64le":
		return elf.EM_PPC64, true
	case "s390x":
		return elf.EM_S390, true
	case "loong64":
		return elf.EM_LOONGARCH, true
	}
	return 0, false
}

// archName names an ELF machine the way users name architectures.
func archName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "amd64 (x86_64)"
	case elf.EM_AARCH64:
		return "arm64 (aarch64)"
	case elf.EM_386:
		return "386"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_PPC64:
		return "ppc64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_LOONGARCH:
		return "loong64"
	}
	return m.String()
}

// checkExecutable returns the absolute path of the artifact after checking
// that this node can execute it: a regular file with execute permission that
// is either an ELF executable for this machine or a script whose interpreter
// exists. pathEnv is the function's PATH, used to find the program of a
// "#!/usr/bin/env program" line.
func checkExecutable(path, pathEnv string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: no executable given; set the function's handler (or artifact) to its bootstrap executable", engine.ErrInvalidArtifact)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", engine.ErrInvalidArtifact, path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case os.IsNotExist(err):
		return "", fmt.Errorf("%w: %s does not exist; deploy the function's bootstrap executable with it", engine.ErrInvalidArtifact, abs)
	case err != nil:
		return "", fmt.Errorf("%w: cannot read %s: %v", engine.ErrInvalidArtifact, abs, err)
	case fi.IsDir():
		return "", fmt.Errorf("%w: %s is a directory; point the function at the executable inside it (for example %s)", engine.ErrInvalidArtifact, abs, filepath.Join(abs, "bootstrap"))
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%w: %s is not a regular file; point the function at its bootstrap executable", engine.ErrInvalidArtifact, abs)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%w: %s is not executable; run chmod +x %s and deploy again", engine.ErrInvalidArtifact, abs, filepath.Base(abs))
	}
	if err := canExecute(abs); err != nil {
		return "", fmt.Errorf("%w: this node cannot execute %s (%v); check its permissions and that its file system is not mounted noexec", engine.ErrInvalidArtifact, abs, err)
	}

	file, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("%w: cannot read %s: %v", engine.ErrInvalidArtifact, abs, err)
	}
	defer file.Close()
	head := make([]byte, 256)
	n, err := io.ReadFull(file, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("%w: cannot read %s: %v", engine.ErrInvalidArtifact, abs, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return abs, checkELF(abs, file)
	case bytes.HasPrefix(head, []byte("#!")):
		return abs, checkInterpreter(abs, head, pathEnv)
	case runtime.GOOS == "darwin" && isMachO(head):
		return abs, nil // a native program on a developer's Mac
	default:
		return "", fmt.Errorf("%w: %s is neither an executable program (ELF) nor a script starting with #!; deploy a Linux executable, or add an interpreter line such as #!/bin/sh", engine.ErrInvalidArtifact, abs)
	}
}

// isMachO reports whether head starts like a Mach-O program, thin or
// universal.
func isMachO(head []byte) bool {
	for _, magic := range [...]string{"\xcf\xfa\xed\xfe", "\xce\xfa\xed\xfe", "\xca\xfe\xba\xbe"} {
		if bytes.HasPrefix(head, []byte(magic)) {
			return true
		}
	}
	return false
}

func checkELF(path string, r io.ReaderAt) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: %s is a Linux executable and this node runs %s; run it on a Linux node", engine.ErrInvalidArtifact, path, runtime.GOOS)
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("%w: %s is a damaged executable (%v); build it again", engine.ErrInvalidArtifact, path, err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: %s is an ELF %s, not an executable; build a program (package main)", engine.ErrInvalidArtifact, path, f.Type)
	}
	if want, known := elfMachine(runtime.GOARCH); known && f.Machine != want {
		return fmt.Errorf("%w: %s is built for %s but this node is linux/%s; build it for the node, for example with GOOS=linux GOARCH=%s", engine.ErrInvalidArtifact, path, archName(f.Machine), runtime.GOARCH, runtime.GOARCH)
	}
	return nil
}

// checkInterpreter checks the interpreter named by a script's #! line.
func checkInterpreter(path string, head []byte, pathEnv string) error {
	line, _, complete := bytes.Cut(head[2:], []byte("\n"))
	if !complete && len(head) == cap(head) {
		return fmt.Errorf("%w: the #! line of %s is too long; shorten it to name the interpreter only", engine.ErrInvalidArtifact, path)
	}
	fields := strings.Fields(strings.TrimSuffix(string(line), "\r"))
	if len(fields) == 0 {
		return fmt.Errorf("%w: the #! line of %s names no interpreter; start it with a line such as #!/bin/sh", engine.ErrInvalidArtifact, path)
	}
	interp := fields[0]
	resolved := interp
	if !filepath.IsAbs(resolved) {
		resolved = filepath.Join(filepath.Dir(path), interp) // the kernel resolves it from the working directory
	}
	if canExecute(resolved) != nil {
		return fmt.Errorf("%w: %s starts with #!%s, but %s is not an executable on this node; use an interpreter the node has, such as #!/bin/sh", engine.ErrInvalidArtifact, path, interp, interp)
	}
	if filepath.Base(interp) != "env" || len(fields) < 2 || strings.HasPrefix(fields[1], "-") {
		return nil
	}
	prog := fields[1]
	if strings.Contains(prog, "/") {
		if canExecute(prog) == nil {
			return nil
		}
	} else {
		if pathEnv == "" {
			pathEnv = "/usr/local/bin:/usr/bin:/bin"
		}
		for _, dir := range filepath.SplitList(pathEnv) {
			if dir != "" && canExecute(filepath.Join(dir, prog)) == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s starts with #!%s %s, but %s is not installed on this node (searched %s); install it or bundle the function as an executable", engine.ErrInvalidArtifact, path, interp, prog, prog, pathEnv)
}

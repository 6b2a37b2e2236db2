package manifest

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a manifest.
type Problem struct {
	File    string // as given to Parse or Load
	Line    int    // 1-based
	Column  int    // 1-based; 0 when unknown (YAML syntax errors)
	Path    string // dotted setting path, e.g. functions.api.memory; empty for the whole file
	Message string // what is wrong; how to fix it
}

// String formats the problem as file:line:column: path: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(p.Line))
	if p.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Column))
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is every problem found in a manifest, in file order.
type Error struct {
	Problems []Problem
}

// Error prints one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

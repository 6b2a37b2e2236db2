// Command command is a plain WASI program: it reads the event from stdin and
// writes the response to stdout. An event "exit N" makes it exit with code N
// and "sleep" makes it sleep for an hour.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "command got %d bytes\n", len(in))
	s := string(in)
	if code, ok := strings.CutPrefix(s, "exit "); ok {
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	if s == "sleep" {
		time.Sleep(time.Hour)
	}
	fmt.Printf(`{"echo":%q,"greeting":%q}`, s, os.Getenv("GREETING"))
}

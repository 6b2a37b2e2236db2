// Command nostart is a reactor whose main forgets to call gureum.Start.
package main

import (
	"fmt"

	gureum "github.com/gureum/gureum/sdk/go"
)

var _ = gureum.Start

func main() {
	fmt.Println("main returns without a handler")
}

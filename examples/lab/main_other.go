//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "lab: this demonstration builds Linux network namespaces and runs only on Linux.")
	os.Exit(1)
}

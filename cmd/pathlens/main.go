// Command pathlens probes a network path — DNS, TCP, TLS, HTTP — times
// every phase and explains what is wrong. See README.md.
package main

import (
	"os"

	"github.com/pathlens/pathlens/internal/cli"
)

func main() { os.Exit(run()) }

func run() int { return cli.Run(os.Args[1:], os.Stdout, os.Stderr) }

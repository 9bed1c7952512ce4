// Command bulkinvite invites candidates to Flowmingo video interviews from a queue.
// See `bulkinvite --help` and the README.
//
// main only turns SIGINT and SIGTERM into a cancelled context and exits with the
// code internal/cli.Run returns; the commands live in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the send windows' time zones, in a container without tzdata too

	"github.com/bulkinvite/bulkinvite/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

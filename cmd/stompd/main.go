// Command stompd is a STOMP 1.2 broker with JWT authentication built in.
//
// Run it with no flags for a working broker on 127.0.0.1 (HTTP on :8080,
// STOMP over TCP on :61613, data in ./data); stompd --help lists every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its arguments and outputs injected, returning the exit
// code: 0 on success, 2 for a usage error, 1 for anything else.
func run(args []string, stdout, stderr io.Writer) int {
	command := serveCommand
	if len(args) > 0 && commands[args[0]] != nil {
		command, args = commands[args[0]], args[1:]
	}
	err := command(args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "stompd:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "stompd:", err)
		return 1
	}
}

// commands are stompd's subcommands by name; with none of them first in
// its arguments, stompd runs the broker.
var commands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"user": func(args []string, stdout, stderr io.Writer) error {
		return userCommand(args, os.Stdin, stdout, stderr)
	},
	"client":  clientCommand,
	"key":     keyCommand,
	"backup":  backupCommand,
	"health":  healthCommand,
	"version": func(args []string, stdout, _ io.Writer) error { return versionCommand(args, stdout) },
}

// usageError is a mistake in how stompd was called.
type usageError struct{ error }

// signalContext is canceled by the first SIGINT or SIGTERM. A second one
// exits the process at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			signal.Stop(sigs)
			return
		}
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "stompd: second signal, exiting now")
		os.Exit(1)
	}()
	return ctx, cancel
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the run could not start, failed, or lost, duplicated or corrupted messages
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, runs the benchmark, prints the
// report on stdout and returns the exit code. The first SIGINT or SIGTERM
// stops publishing and still reports; a second one ends the process.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "stompbench:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	if cfg.CPUProfile != "" {
		stopProfile, err := startProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "stompbench:", err)
			return exitFailed
		}
		defer stopProfile()
	}
	if cfg.Scenario == scenarioSoak {
		return runSoak(ctx, cfg, stdout, stderr)
	}
	rep, err := newBench(cfg, stderr).run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "stompbench:", err)
		return exitFailed
	}
	if err := rep.write(stdout, cfg.JSON); err != nil {
		fmt.Fprintln(stderr, "stompbench:", err)
		return exitFailed
	}
	if !rep.Valid {
		return exitFailed
	}
	return exitOK
}

// startProfile starts writing the CPU profile to path.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

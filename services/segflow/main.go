// Command segflow runs segflow's services: all of them in one process (run), or
// one per process (collector, profile-updater, trigger, api). With no Kafka or Redis address configured it
// starts an embedded broker and Redis in-process; see config.go for settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `segflow — streaming customer segmentation

Usage:
  segflow run        [flags]   run the whole pipeline in one process
  segflow collector  [flags]   run the HTTP collector
  segflow profile-updater [flags]  run the profile-updater
  segflow trigger    [flags]   run the trigger service (needs --campaigns)
  segflow api        [flags]   run the read API, its segment index and the dashboard (needs --api-tokens)
  segflow import orders [flags] FILE   write historical orders (CSV or JSON lines) to the purchase topic
  segflow replay     [flags]   re-apply topics to the profile store, in place or into a fresh namespace
  segflow replay drop NAMESPACE  delete a namespace that is not live
  segflow verify     [flags]   rebuild profiles in a scratch namespace and report differences (exit 1)
  segflow healthcheck URL        exit 0 if URL answers 200 (for container health checks)
  segflow <command> -h         list the flags of a command

Every flag can also be set as an environment variable: --kafka-brokers is
SEGFLOW_KAFKA_BROKERS. Without --kafka-brokers and --redis-addr, segflow runs an
embedded Kafka-protocol broker and Redis in-process.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, errDiffers) {
			os.Exit(1)
		}
		if errors.Is(err, errRowsFailed) {
			fmt.Fprintln(os.Stderr, "segflow:", err)
			os.Exit(1)
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "segflow:", err)
		}
		os.Exit(2)
	}
}

func run(args []string) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "run", "collector", "profile-updater", "trigger", "api":
		cfg, err := parseConfig(cmd, args)
		if err != nil {
			return err
		}
		return serve(ctx, cmd, cfg)
	case "import":
		return importOrders(ctx, args, os.Stdout, os.Stderr)
	case "replay":
		return replayCmd(ctx, args, os.Stdout, os.Stderr)
	case "verify":
		return verifyCmd(ctx, args, os.Stdout, os.Stderr)
	case "healthcheck":
		return healthcheck(ctx, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// healthcheck probes a health endpoint, for images that have no curl.
func healthcheck(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: segflow healthcheck URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	return nil
}

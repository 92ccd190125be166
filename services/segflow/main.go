// Command segflow runs segflow's services: all of them in one process (run), or
// one per process (collector, profile-updater, trigger, api), and the
// engineers' commands (import orders, replay, verify). With no Kafka or Redis
// address configured it starts an embedded broker and Redis in-process.
// commands.go lists the commands, flags.go their flags, config.go how they
// are checked.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr (unless it was reported already) and returns
// the exit status: 0 for success and for help, 1 when the answer is no
// (verify found differences, import rows failed), 2 for a usage error or a
// failure.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errDiffers):
		return 1
	case errors.Is(err, errRowsFailed):
		fmt.Fprintln(stderr, "segflow:", err)
		return 1
	case errors.Is(err, errNoCommand):
		return 2
	default:
		fmt.Fprintln(stderr, "segflow:", err)
		return 2
	}
}

// run runs the command of args. Help goes to stdout; the list of commands
// goes to stderr when no command or an unknown one is given.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printCommands(stderr)
		return errNoCommand
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(args[1:], stdout)
	case "-version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
	}
	cmd, rest := find(args)
	if cmd == nil {
		if subs := subcommands(args[0]); len(subs) > 0 {
			if len(args) > 1 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
				return help(args[:1], stdout)
			}
			return usageError{err: fmt.Errorf("%s what? %s", args[0], subs[0].usageLine())}
		}
		printCommands(stderr)
		if strings.HasPrefix(args[0], "-") {
			return usageError{err: fmt.Errorf("flag %s before a command: flags come after it, e.g. segflow run %s", args[0], args[0])}
		}
		return usageError{err: fmt.Errorf("unknown command %q", args[0])}
	}
	err := runCommand(ctx, cmd, rest, stdout, stderr)
	var h helpRequest
	if errors.As(err, &h) {
		h.cmd.printHelp(stdout)
		return nil
	}
	return err
}

// runCommand runs cmd with the arguments after its name.
func runCommand(ctx context.Context, cmd *command, args []string, stdout, stderr io.Writer) error {
	switch cmd.name {
	case "run", "collector", "profile-updater", "trigger", "api":
		cfg, err := parseConfig(cmd.name, args)
		if err != nil {
			return err
		}
		return serve(ctx, cmd.name, cfg)
	case "import orders":
		return importOrders(ctx, append([]string{"orders"}, args...), stdout, stderr)
	case "replay":
		return replayCmd(ctx, args, stdout, stderr)
	case "replay drop":
		return replayCmd(ctx, append([]string{"drop"}, args...), stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args, stdout, stderr)
	case "fit":
		return fitCmd(ctx, args, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args)
	case "help":
		return help(args, stdout)
	case "version":
		if _, err := parseConfig(cmd.name, args); err != nil {
			return err
		}
		fmt.Fprintln(stdout, version())
		return nil
	}
	return fmt.Errorf("command %s has no implementation", cmd.name)
}

// help prints the list of commands, or the help of the command args name.
func help(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		printCommands(stdout)
		return nil
	}
	cmd, rest := find(args)
	if cmd == nil || len(rest) > 0 {
		if subs := subcommands(args[0]); len(subs) > 0 {
			for i, c := range subs {
				if i > 0 {
					fmt.Fprintln(stdout)
				}
				c.printHelp(stdout)
			}
			return nil
		}
		return usageError{err: fmt.Errorf("help: unknown command %q", strings.Join(args, " "))}
	}
	cmd.printHelp(stdout)
	return nil
}

// healthcheck probes a health endpoint, for images that have no curl.
func healthcheck(ctx context.Context, args []string) error {
	cfg, err := parseConfig("healthcheck", args)
	if err != nil {
		return err
	}
	url := cfg.arg(0)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

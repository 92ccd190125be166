package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// command is one of segflow's commands, as its help shows it.
type command struct {
	name     string // as typed: "replay drop"
	args     string // the arguments after the flags, e.g. "FILE"; empty: none
	summary  string // one line, for the list of commands
	about    string // what it does, one paragraph
	examples []string
	flags    []flagGroup
}

// serviceGroups are the flags of every long-running service.
var serviceGroups = []flagGroup{serviceFlags, kafkaFlags, redisFlags, embeddedFlags, topicFlags, writeFlags}

// commands lists segflow's commands in the order help shows them.
var commands = []*command{
	{
		name:    "run",
		summary: "run the whole pipeline in one process",
		about: "Runs every service in one process: the HTTP collector, the profile-updater, the trigger service " +
			"(with --campaigns), and the read API with its segment index and the dashboard (with --api-tokens). " +
			"Without --kafka-brokers and --redis-addr it starts an embedded Kafka-protocol broker and an embedded Redis " +
			"in-process, with the write key and API token dev, listening on this machine only. With --demo it " +
			"loads the bundled CDNOW sample into the pipeline week by week in event time, its clock following the weeks, " +
			"so the dashboard has 18 months of history and the example campaigns' results to show.",
		examples: []string{
			"segflow run --campaigns deploy/campaigns.yaml",
			"segflow run --demo",
			"segflow run --kafka-brokers kafka:9092 --redis-addr redis:6379 --write-keys web=$KEY --api-tokens crm=$TOKEN",
		},
		flags: append(serviceGroups[:len(serviceGroups):len(serviceGroups)], collectorFlags, updaterFlags, triggerFlags, apiFlags, demoFlags, logFlags),
	},
	{
		name:    "collector",
		summary: "run the HTTP collector",
		about: "Accepts tracking events over HTTP (Segment-style track, identify, page, screen and batch calls, " +
			"or CloudEvents), checks them against the schemas in schemas/, and writes them to the browse, cart, " +
			"purchase and identify topics. Callers authenticate with a write key.",
		examples: []string{"segflow collector --kafka-brokers kafka:9092 --redis-addr redis:6379 --write-keys web=$KEY,pos-taipei=$POS_KEY"},
		flags:    append(serviceGroups[:len(serviceGroups):len(serviceGroups)], collectorFlags, logFlags),
	},
	{
		name:    "profile-updater",
		summary: "run the profile-updater",
		about: "Applies the events of the customer topics to the profiles in Redis, exactly once in effect, and " +
			"publishes every change of NES stage, RFM segment, tier or tags on the profiles topic, including the " +
			"changes time alone brings (see docs/segmentation.md).",
		examples: []string{"segflow profile-updater --kafka-brokers kafka:9092 --redis-addr redis:6379"},
		flags:    append(serviceGroups[:len(serviceGroups):len(serviceGroups)], updaterFlags, logFlags),
	},
	{
		name:    "trigger",
		summary: "run the trigger service (needs --campaigns)",
		about: "Evaluates the campaigns of --campaigns on customer events and profile changes, and writes a trigger " +
			"for each decision to send on the triggers topic (and to --webhook-url, if set). The campaigns file is " +
			"reloaded when it changes.",
		examples: []string{"segflow trigger --kafka-brokers kafka:9092 --redis-addr redis:6379 --campaigns deploy/campaigns.yaml"},
		flags:    append(serviceGroups[:len(serviceGroups):len(serviceGroups)], triggerFlags, logFlags),
	},
	{
		name:    "api",
		summary: "run the read API, its segment index and the dashboard (needs --api-tokens)",
		about: "Serves profiles, segment and tag counts, segment members and campaign results over HTTP to holders " +
			"of --api-tokens, and the dashboard at /dashboard/. It keeps the segment index up to date from the " +
			"profiles topic.",
		examples: []string{"segflow api --kafka-brokers kafka:9092 --redis-addr redis:6379 --api-tokens crm=$TOKEN,ops:admin=$ADMIN_TOKEN"},
		flags:    append(serviceGroups[:len(serviceGroups):len(serviceGroups)], apiFlags, logFlags),
	},
	{
		name:    "import orders",
		args:    "FILE",
		summary: "write historical orders (CSV or JSON lines) to the purchase topic",
		about: "Reads orders from FILE (CSV with a header naming order_id, customer_id, time, total and currency, " +
			"or JSON lines) and writes each as an order event to the purchase topic, so that profiles start with " +
			"their history. Rows already imported under the same --source are skipped. Rows that fail are listed " +
			"with their line, the rest are written, and the command exits 1. Needs --kafka-brokers and --redis-addr.",
		examples: []string{
			"segflow import orders --kafka-brokers kafka:9092 --redis-addr redis:6379 orders.csv",
			"segflow import orders --source /import/shop-2023 --time-zone Asia/Taipei orders.jsonl",
		},
		flags: []flagGroup{importFlags, kafkaFlags, redisFlags, topicFlags, writeFlags, logFlags},
	},
	{
		name:    "replay",
		summary: "re-apply topics to the profile store, in place or into a fresh namespace",
		about: "Reads the customer topics from the beginning (or --from, --offsets) and applies them in event time " +
			"to the live namespace, where already-applied events change nothing, or with --into to a fresh " +
			"namespace, which --switch makes live once it has caught up. An interrupted replay resumes where it " +
			"stopped. Needs --kafka-brokers and --redis-addr.",
		examples: []string{
			"segflow replay --from 2026-05-01T00:00:00Z",
			"segflow replay --into sf2 --switch --tag-rules new.yaml",
			"segflow replay --topics events.invalid",
		},
		flags: []flagGroup{replayFlags, kafkaFlags, redisFlags, topicFlags, writeFlags, logFlags},
	},
	{
		name:    "replay drop",
		args:    "NAMESPACE",
		summary: "delete a namespace that is not live",
		about: "Deletes every profile key of NAMESPACE, a namespace that a replay built or that was live before a " +
			"switch. The live namespace is refused, and so is a name that is not a namespace. Needs --redis-addr.",
		examples: []string{"segflow replay drop sf"},
		flags:    []flagGroup{redisFlags, logFlags},
	},
	{
		name:    "verify",
		summary: "rebuild profiles in a scratch namespace and report differences (exit 1)",
		about: "Rebuilds the profiles from the topics in a scratch namespace and compares them with the live " +
			"namespace (or --against), as of --now. It prints each field that differs and exits 1 if any does, " +
			"0 if none. Needs --kafka-brokers and --redis-addr.",
		examples: []string{
			"segflow verify",
			"segflow verify --against sf2 --now 2026-06-01T00:00:00Z",
		},
		flags: []flagGroup{verifyFlags, kafkaFlags, redisFlags, logFlags},
	},
	{
		name:    "fit",
		summary: "fit the prediction models on the live namespace and store them",
		about: "Fits BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend) by maximum likelihood on every customer " +
			"of the live namespace as of --now, and stores the parameters with their fit date, customers, " +
			"log-likelihood and version, which every process predicting from the namespace loads within a minute. " +
			"The profile-updater refits by itself every --fit-every. Needs --redis-addr.",
		examples: []string{
			"segflow fit --redis-addr redis:6379",
			"segflow fit --redis-addr redis:6379 --now 1997-09-30T00:00:00Z",
		},
		flags: []flagGroup{fitFlags, redisFlags, logFlags},
	},
	{
		name:     "healthcheck",
		args:     "URL",
		summary:  "exit 0 if URL answers 200 (for container health checks)",
		about:    "Sends GET URL and exits 0 if it answers 200 within 5 s, 2 otherwise: a health check for images that have no curl.",
		examples: []string{"segflow healthcheck http://localhost:8080/readyz"},
	},
	{
		name:     "help",
		args:     "[COMMAND]",
		summary:  "list the commands, or show a command's flags and examples",
		about:    "Without a command, lists the commands; with one, shows how to call it, what it does, examples and its flags.",
		examples: []string{"segflow help replay drop"},
	},
	{
		name:     "version",
		summary:  "print the version and commit",
		about:    "Prints the module version and the VCS commit segflow was built from (also: segflow --version).",
		examples: []string{"segflow version"},
	},
}

// service tells whether cmd is a long-running service, which runs embedded
// Kafka and Redis when it is given none.
func (cmd *command) service() bool {
	return cmd.name == "run" || cmd.name == "collector" || cmd.name == "profile-updater" || cmd.name == "trigger" || cmd.name == "api"
}

// lookup returns the command named name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// find returns the command args start with, the longest name first
// ("replay drop" before "replay"), and the arguments after its name.
func find(args []string) (*command, []string) {
	if len(args) >= 2 {
		if c := lookup(args[0] + " " + args[1]); c != nil {
			return c, args[2:]
		}
	}
	if len(args) >= 1 {
		if c := lookup(args[0]); c != nil {
			return c, args[1:]
		}
	}
	return nil, args
}

// subcommands returns the commands whose name starts with word and a space:
// "import" has "import orders".
func subcommands(word string) []*command {
	var out []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			out = append(out, c)
		}
	}
	return out
}

const intro = `segflow — streaming customer segmentation

Usage: segflow <command> [flags] [arguments]

Commands:
`

const outro = `
Run 'segflow help <command>' or 'segflow <command> --help' for a command's
flags and examples. Every flag can also be set as an environment variable:
SEGFLOW_ and its name in upper case with dashes as underscores
(--kafka-brokers is SEGFLOW_KAFKA_BROKERS); flags win. Without
--kafka-brokers and --redis-addr, the services run an embedded Kafka-protocol
broker and Redis in-process.
`

// printCommands writes the list of commands.
func printCommands(w io.Writer) {
	fmt.Fprint(w, intro)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, outro)
}

// usageLine is how cmd is called.
func (cmd *command) usageLine() string {
	line := "segflow " + cmd.name
	if len(cmd.flags) > 0 {
		line += " [flags]"
	}
	if cmd.args != "" {
		line += " " + cmd.args
	}
	return line
}

// printHelp writes cmd's help: how it is called, what it does, examples and
// its flags.
func (cmd *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.usageLine(), wrap(cmd.about, 78, ""))
	if len(cmd.examples) > 0 {
		fmt.Fprint(w, "\nExamples:\n")
		for _, e := range cmd.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if len(cmd.flags) == 0 {
		return
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	c := &config{transport: newTransport()}
	for _, group := range cmd.flags {
		group(fs, c)
	}
	fmt.Fprint(w, "\nFlags (each also SEGFLOW_<NAME>, e.g. SEGFLOW_LOG_LEVEL):\n")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		if !isZeroDefault(f.DefValue) {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n%s\n", line, wrap(usage, 78, "        "))
	})
}

func isZeroDefault(v string) bool {
	return v == "" || v == "0" || v == "false" || v == "0s"
}

// wrap breaks text into lines of at most width characters, each starting
// with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// version is the module version and VCS commit segflow was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "segflow (unknown version: built without module support)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	commit, modified, at := "unknown", false, ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		case "vcs.time":
			at = s.Value
		}
	}
	out := fmt.Sprintf("segflow %s commit %s", v, commit)
	if at != "" {
		out += " (" + at + ")"
	}
	if modified {
		out += " with uncommitted changes"
	}
	return out + ", " + info.GoVersion
}

// helpRequest is the error of a command called with -h or --help: main
// prints the command's help on stdout and exits 0.
type helpRequest struct{ cmd *command }

func (h helpRequest) Error() string { return "help requested for " + h.cmd.name }

func (h helpRequest) Is(target error) bool { return target == flag.ErrHelp }

// usageError is a command called the wrong way: a flag it does not have, a
// bad value, missing arguments. main exits 2.
type usageError struct {
	cmd *command // nil: no command was recognised
	err error
}

func (u usageError) Error() string {
	if u.cmd == nil {
		return u.err.Error()
	}
	return fmt.Sprintf("%s: %v\nRun 'segflow help %s' for its usage.", u.cmd.name, u.err, u.cmd.name)
}

func (u usageError) Unwrap() error { return u.err }

// errNoCommand is a bare `segflow`.
var errNoCommand = errors.New("no command given")

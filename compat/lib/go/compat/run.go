// Package compat is what the Go compatibility clients (compat/README.md) share and what does not
// depend on their Kafka library: the command line, the scenario table and its JSON result lines,
// the expected data of each scenario and the checks on what came back.
package compat

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scenarioTimeout bounds each scenario: the contract allows at most 60 s.
const scenarioTimeout = 55 * time.Second

// Env is what every scenario gets: where the broker is and how to name what it creates.
type Env struct {
	Bootstrap      string // HOST:PORT[,HOST:PORT...], as bootstrap.servers
	Prefix         string
	PreviousPrefix string
	CompatDir      string
}

// Brokers is Bootstrap split into its addresses, for the libraries that take a list.
func (e *Env) Brokers() []string { return strings.Split(e.Bootstrap, ",") }

// skipError marks a scenario the library (or vltava) does not support; it is reported as "skip".
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

// Skip is the result of a scenario the client library (or vltava) does not support.
func Skip(reason string) error { return skipError{reason} }

// ScenarioFunc runs one scenario: nil is a pass, Skip a skip, any other error a failure.
type ScenarioFunc func(ctx context.Context, e *Env) error

// Client is one library's implementation of the scenarios (compat/scenarios.txt), each a
// ScenarioFunc; consumer_group is ConsumerGroup run on what Groups returns.
type Client interface {
	Metadata(ctx context.Context, e *Env) error
	ProduceConsume(ctx context.Context, e *Env) error
	Headers(ctx context.Context, e *Env) error
	NullAndEmptyValues(ctx context.Context, e *Env) error
	Value1MiB(ctx context.Context, e *Env) error
	// Compression is a codec scenario, for codec gzip, snappy, lz4 or zstd.
	Compression(ctx context.Context, e *Env, codec string) error
	PartitionerMurmur2(ctx context.Context, e *Env) error
	Groups(e *Env) GroupClient
	CommitAndResume(ctx context.Context, e *Env) error
	Seek(ctx context.Context, e *Env) error
	IdempotentProducer(ctx context.Context, e *Env) error
	Transactions(ctx context.Context, e *Env) error
	AdminTopics(ctx context.Context, e *Env) error
	AdminConfigs(ctx context.Context, e *Env) error
	AdminGroups(ctx context.Context, e *Env) error
	AdminDeleteRecords(ctx context.Context, e *Env) error
	ErrorUnknownTopic(ctx context.Context, e *Env) error
	ErrorRecordTooLarge(ctx context.Context, e *Env) error
	ErrorInvalidTopicName(ctx context.Context, e *Env) error
	ErrorTopicExists(ctx context.Context, e *Env) error
}

// NoTransactions gives a Client whose library has no transactional producer the
// transactions scenario as a skip saying so.
type NoTransactions struct{}

// Transactions skips: the client library cannot begin, commit or abort a transaction.
func (NoTransactions) Transactions(context.Context, *Env) error {
	return Skip("the client library has no transactions")
}

type scenario struct {
	id  string
	run ScenarioFunc
}

// table lists c's scenarios in the order of compat/scenarios.txt.
func table(c Client) []scenario {
	codec := func(name string) ScenarioFunc {
		return func(ctx context.Context, e *Env) error { return c.Compression(ctx, e, name) }
	}
	return []scenario{
		{"metadata", c.Metadata},
		{"produce_consume", c.ProduceConsume},
		{"headers", c.Headers},
		{"null_and_empty_values", c.NullAndEmptyValues},
		{"value_1mib", c.Value1MiB},
		{"compression_gzip", codec("gzip")},
		{"compression_snappy", codec("snappy")},
		{"compression_lz4", codec("lz4")},
		{"compression_zstd", codec("zstd")},
		{"partitioner_murmur2", c.PartitionerMurmur2},
		{"consumer_group", func(ctx context.Context, e *Env) error { return ConsumerGroup(ctx, e, c.Groups(e)) }},
		{"commit_and_resume", c.CommitAndResume},
		{"seek", c.Seek},
		{"idempotent_producer", c.IdempotentProducer},
		{"transactions", c.Transactions},
		{"admin_topics", c.AdminTopics},
		{"admin_configs", c.AdminConfigs},
		{"admin_groups", c.AdminGroups},
		{"admin_delete_records", c.AdminDeleteRecords},
		{"error_unknown_topic", c.ErrorUnknownTopic},
		{"error_record_too_large", c.ErrorRecordTooLarge},
		{"error_invalid_topic_name", c.ErrorInvalidTopicName},
		{"error_topic_exists", c.ErrorTopicExists},
	}
}

// clientName prefixes every stderr line; Main sets it before any scenario runs.
var clientName = "compat"

// Logf writes a progress line to stderr (stdout carries only results).
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, clientName+": "+format+"\n", args...)
}

type result struct {
	Scenario string `json:"scenario"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

// Main parses the contract's arguments, runs the scenarios (all, or the one --only names) and
// prints one JSON result line each; it exits 2 on bad arguments and 1 if stdout fails.
func Main(name string, c Client) {
	clientName = name
	e := &Env{}
	flag.StringVar(&e.Bootstrap, "bootstrap", "", "broker HOST:PORT[,HOST:PORT...]")
	flag.StringVar(&e.Prefix, "prefix", "", "prefix of every topic and group created")
	flag.StringVar(&e.PreviousPrefix, "previous-prefix", "", "prefix of the previous client's run (cross-client codec check)")
	flag.StringVar(&e.CompatDir, "compat-dir", "", "the compat/ directory (for expected/)")
	only := flag.String("only", "", "run only this scenario id")
	flag.Parse()
	if e.Bootstrap == "" || e.Prefix == "" {
		fmt.Fprintln(os.Stderr, "usage: run --bootstrap HOST:PORT[,HOST:PORT...] --prefix PREFIX [--previous-prefix P]")
		os.Exit(2)
	}
	if e.CompatDir == "" {
		if exe, err := os.Executable(); err == nil {
			e.CompatDir = filepath.Join(filepath.Dir(exe), "..", "..")
		}
	}
	out := json.NewEncoder(os.Stdout)
	for _, sc := range table(c) {
		if *only != "" && *only != sc.id {
			continue
		}
		started := time.Now()
		r := runOne(sc, e)
		Logf("%s %s in %s: %s", r.Scenario, r.Status, time.Since(started).Round(time.Millisecond), r.Detail)
		if err := out.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "writing result:", err)
			os.Exit(1)
		}
	}
}

// runOne runs a scenario under its deadline; a scenario stuck past the deadline is reported as a
// failure and abandoned, so one hang cannot stop the rest of the table.
func runOne(s scenario, e *Env) result {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- s.run(ctx, e)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(scenarioTimeout + 5*time.Second):
		err = errors.New("scenario did not finish within its deadline")
	}
	var skip skipError
	switch {
	case err == nil:
		return result{s.id, "pass", "ok"}
	case errors.As(err, &skip):
		return result{s.id, "skip", skip.reason}
	default:
		return result{s.id, "fail", err.Error()}
	}
}

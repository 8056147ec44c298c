// Command kafka-go-compat runs the compatibility-matrix scenarios (compat/README.md) with the
// segmentio/kafka-go client against one broker and prints one JSON result line per scenario.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// scenarioTimeout bounds each scenario: the contract allows at most 60 s.
const scenarioTimeout = 55 * time.Second

// env is what every scenario gets: where the broker is and how to name what it creates.
type env struct {
	bootstrap      string
	prefix         string
	previousPrefix string
	compatDir      string
}

// skipError marks a scenario the library (or vltava) does not support; it is reported as "skip".
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

type scenario struct {
	id  string
	run func(ctx context.Context, e *env) error
}

// scenarios in the order of compat/scenarios.txt.
var scenarios = []scenario{
	{"metadata", scenarioMetadata},
	{"produce_consume", scenarioProduceConsume},
	{"headers", scenarioHeaders},
	{"null_and_empty_values", scenarioNullAndEmptyValues},
	{"value_1mib", scenarioValue1MiB},
	{"compression_gzip", compressionScenario("gzip")},
	{"compression_snappy", compressionScenario("snappy")},
	{"compression_lz4", compressionScenario("lz4")},
	{"compression_zstd", compressionScenario("zstd")},
	{"partitioner_murmur2", scenarioPartitionerMurmur2},
	{"consumer_group", scenarioConsumerGroup},
	{"commit_and_resume", scenarioCommitAndResume},
	{"seek", scenarioSeek},
	{"idempotent_producer", scenarioIdempotentProducer},
	{"transactions", scenarioTransactions},
	{"admin_topics", scenarioAdminTopics},
	{"admin_configs", scenarioAdminConfigs},
	{"admin_groups", scenarioAdminGroups},
	{"admin_delete_records", scenarioAdminDeleteRecords},
	{"error_unknown_topic", scenarioErrorUnknownTopic},
	{"error_record_too_large", scenarioErrorRecordTooLarge},
	{"error_invalid_topic_name", scenarioErrorInvalidTopicName},
	{"error_topic_exists", scenarioErrorTopicExists},
}

type result struct {
	Scenario string `json:"scenario"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

func main() {
	e := &env{}
	flag.StringVar(&e.bootstrap, "bootstrap", "", "broker HOST:PORT")
	flag.StringVar(&e.prefix, "prefix", "", "prefix of every topic and group created")
	flag.StringVar(&e.previousPrefix, "previous-prefix", "", "prefix of the previous client's run (cross-client codec check)")
	flag.StringVar(&e.compatDir, "compat-dir", "", "the compat/ directory (for expected/)")
	only := flag.String("only", "", "run only this scenario id")
	flag.Parse()
	if e.bootstrap == "" || e.prefix == "" {
		fmt.Fprintln(os.Stderr, "usage: run --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P]")
		os.Exit(2)
	}
	if e.compatDir == "" {
		if exe, err := os.Executable(); err == nil {
			e.compatDir = filepath.Join(filepath.Dir(exe), "..", "..")
		}
	}
	out := json.NewEncoder(os.Stdout)
	for _, s := range scenarios {
		if *only != "" && *only != s.id {
			continue
		}
		started := time.Now()
		r := runOne(s, e)
		fmt.Fprintf(os.Stderr, "kafka-go: %s %s in %s: %s\n", r.Scenario, r.Status, time.Since(started).Round(time.Millisecond), r.Detail)
		if err := out.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "writing result:", err)
			os.Exit(1)
		}
	}
}

// runOne runs a scenario under its deadline; a scenario stuck past the deadline is reported as a
// failure and abandoned, so one hang cannot stop the rest of the table.
func runOne(s scenario, e *env) result {
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

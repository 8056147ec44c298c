package compat

// These tests guard the shared harness itself: a check that accepts wrong data, a poll that is
// not bounded, or a scenario table out of step with compat/scenarios.txt would make every Go
// client report the wrong thing.

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compatDir is compat/, seen from this package's directory.
var compatDir = filepath.Join("..", "..", "..")

func TestPollStopsAfterItsAttempts(t *testing.T) {
	calls := 0
	notYet := errors.New("not yet")
	err := Poll(context.Background(), 3, func() error { calls++; return notYet })
	if calls != 3 || !errors.Is(err, notYet) {
		t.Fatalf("Poll made %d calls and returned %v, want 3 calls and the last error", calls, err)
	}
}

func TestPollReturnsOnceTheCheckPasses(t *testing.T) {
	calls := 0
	err := Poll(context.Background(), 100, func() error {
		calls++
		if calls < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Poll returned %v after %d calls, want nil after 2", err, calls)
	}
}

func TestPollEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Poll(ctx, 100, func() error { calls++; return errors.New("never") })
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll made %d calls and returned %v, want 1 call and context.Canceled", calls, err)
	}
}

func TestCheckProduceConsumeRejectsReorderAndLoss(t *testing.T) {
	recs := ProduceConsumeRecords()
	if err := CheckProduceConsume(recs); err != nil {
		t.Fatalf("records as produced: %v", err)
	}
	swapped := append([]Record(nil), recs...)
	swapped[0], swapped[10] = swapped[10], swapped[0] // both key-0
	if err := CheckProduceConsume(swapped); err == nil {
		t.Fatal("values of one key out of order were accepted")
	}
	if err := CheckProduceConsume(recs[1:]); err == nil {
		t.Fatal("a lost record was accepted")
	}
	moved := append([]Record(nil), recs...)
	moved[10].Partition = 1
	if err := CheckProduceConsume(moved); err == nil {
		t.Fatal("one key in two partitions was accepted")
	}
}

func TestCheckNullAndEmptyTellsNullFromEmpty(t *testing.T) {
	if err := CheckNullAndEmpty(NullAndEmptyRecords()); err != nil {
		t.Fatalf("records as produced: %v", err)
	}
	nullValue := NullAndEmptyRecords()
	nullValue[1].Value = nil
	if err := CheckNullAndEmpty(nullValue); err == nil {
		t.Fatal("a null value was accepted for the empty one")
	}
	nullKey := NullAndEmptyRecords()
	nullKey[2].Key = nil
	if err := CheckNullAndEmpty(nullKey); err == nil {
		t.Fatal("a null key was accepted for the empty one")
	}
	emptyValue := NullAndEmptyRecords()
	emptyValue[0].Value = []byte{}
	if err := CheckNullAndEmpty(emptyValue); err == nil {
		t.Fatal("an empty value was accepted for the tombstone")
	}
}

func TestCheckHeadersKeepsOrderAndBinaryValues(t *testing.T) {
	if err := CheckHeaders(Headers()); err != nil {
		t.Fatalf("headers as sent: %v", err)
	}
	h := Headers()
	h[0], h[1] = h[1], h[0]
	if err := CheckHeaders(h); err == nil {
		t.Fatal("a repeated key's values out of order were accepted")
	}
	h = Headers()
	h[2].Value = []byte{0x00}
	if err := CheckHeaders(h); err == nil {
		t.Fatal("a changed binary value was accepted")
	}
}

func TestCodecRoundTripReadsThePreviousClientsTopic(t *testing.T) {
	e := &Env{Prefix: "now", PreviousPrefix: "before"}
	var written, read []string
	write := func(_ context.Context, topic string) error { written = append(written, topic); return nil }
	corrupt := ""
	readTopic := func(_ context.Context, topic string, n int) ([]Record, error) {
		read = append(read, topic)
		recs := CodecRecords()[:n]
		if topic == corrupt {
			recs[7].Value = []byte("x")
		}
		return recs, nil
	}
	if err := CodecRoundTrip(context.Background(), e, "zstd", write, readTopic); err != nil {
		t.Fatalf("clean round trip: %v", err)
	}
	if strings.Join(written, ",") != "now-codec-zstd" || strings.Join(read, ",") != "now-codec-zstd,before-codec-zstd" {
		t.Fatalf("wrote %v and read %v", written, read)
	}
	corrupt = "before-codec-zstd"
	err := CodecRoundTrip(context.Background(), e, "zstd", write, readTopic)
	if err == nil || !strings.Contains(err.Error(), "previous client's topic") {
		t.Fatalf("a corrupt previous topic gave %v", err)
	}
}

func TestCheckMurmur2UsesJavasPartitions(t *testing.T) {
	e := &Env{CompatDir: compatDir}
	expected, err := expectedMurmur2(e)
	if err != nil {
		t.Fatal(err)
	}
	placed := Murmur2Records()
	for i := range placed {
		placed[i].Partition = expected[string(placed[i].Key)]
	}
	if err := CheckMurmur2(e, placed); err != nil {
		t.Fatalf("Java's own placement: %v", err)
	}
	placed[42].Partition = (placed[42].Partition + 1) % Murmur2Partitions
	if err := CheckMurmur2(e, placed); err == nil {
		t.Fatal("a key in the wrong partition was accepted")
	}
}

func TestCollectRejectsARecordConsumedTwice(t *testing.T) {
	in := make(chan GroupRecord, 3)
	in <- GroupRecord{Member: 0, Partition: 1, Offset: 5}
	in <- GroupRecord{Member: 1, Partition: 1, Offset: 5}
	if _, err := Collect(context.Background(), in, 2, map[string]int{}); err == nil {
		t.Fatal("one record consumed by two members was accepted")
	}
}

func TestWantErrorMatchesWrappedErrors(t *testing.T) {
	sentinel := errors.New("kafka error")
	if err := WantError(errors.Join(errors.New("context"), sentinel), sentinel, "doing", "CODE"); err != nil {
		t.Fatalf("a wrapped sentinel: %v", err)
	}
	if err := WantError(nil, sentinel, "doing", "CODE"); err == nil || !strings.Contains(err.Error(), "want CODE") {
		t.Fatalf("no error at all gave %v", err)
	}
}

type stubClient struct{ NoTransactions }

func (stubClient) Metadata(context.Context, *Env) error              { return nil }
func (stubClient) ProduceConsume(context.Context, *Env) error        { return nil }
func (stubClient) Headers(context.Context, *Env) error               { return nil }
func (stubClient) NullAndEmptyValues(context.Context, *Env) error    { return nil }
func (stubClient) Value1MiB(context.Context, *Env) error             { return nil }
func (stubClient) PartitionerMurmur2(context.Context, *Env) error    { return nil }
func (stubClient) CommitAndResume(context.Context, *Env) error       { return nil }
func (stubClient) Seek(context.Context, *Env) error                  { return nil }
func (stubClient) IdempotentProducer(context.Context, *Env) error    { return nil }
func (stubClient) AdminTopics(context.Context, *Env) error           { return nil }
func (stubClient) AdminConfigs(context.Context, *Env) error          { return nil }
func (stubClient) AdminGroups(context.Context, *Env) error           { return nil }
func (stubClient) AdminDeleteRecords(context.Context, *Env) error    { return nil }
func (stubClient) ErrorUnknownTopic(context.Context, *Env) error     { return nil }
func (stubClient) ErrorRecordTooLarge(context.Context, *Env) error   { return nil }
func (stubClient) ErrorInvalidTopicName(context.Context, *Env) error { return nil }
func (stubClient) ErrorTopicExists(context.Context, *Env) error      { return nil }
func (stubClient) Compression(context.Context, *Env, string) error   { return nil }
func (stubClient) Groups(*Env) GroupClient                           { return nil }

func TestTableFollowsScenariosTxt(t *testing.T) {
	f, err := os.Open(filepath.Join(compatDir, "scenarios.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var want []string
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		// Kafka Streams' scenarios, and consume_transform_produce (written for the Java client
		// and confluent-kafka-python so far), are absent from the Go clients' rows.
		id, _, _ := strings.Cut(lines.Text(), " ")
		if id != "" && !strings.HasPrefix(id, "streams_") && id != "consume_transform_produce" {
			want = append(want, id)
		}
	}
	var got []string
	for _, s := range table(stubClient{}) {
		got = append(got, s.id)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("table order\n%v\nscenarios.txt (but streams_* and consume_transform_produce)\n%v", got, want)
	}
}

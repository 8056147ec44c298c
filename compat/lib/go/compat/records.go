package compat

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is one record header as every library can express it.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record without its library: what a scenario produces (Key, Value, Headers, and
// Partition and Timestamp where the scenario picks them) and what it checks of what came back.
// A nil Key or Value is null, an empty one is empty: the two must stay distinct on the way
// through. A zero Timestamp leaves the time to the producer.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// produceConsumeCount is how many records produce_consume writes: ten keys, values in order.
const produceConsumeCount = 300

// ProduceConsumeRecords are produce_consume's records: value i under key key-(i mod 10).
func ProduceConsumeRecords() []Record {
	recs := make([]Record, produceConsumeCount)
	for i := range recs {
		recs[i] = Record{Key: []byte("key-" + strconv.Itoa(i%10)), Value: []byte(strconv.Itoa(i))}
	}
	return recs
}

// CheckProduceConsume checks that every record came back once and, per key (so per partition),
// in production order.
func CheckProduceConsume(got []Record) error {
	if len(got) != produceConsumeCount {
		return fmt.Errorf("consumed %d records, want %d", len(got), produceConsumeCount)
	}
	lastByKey := map[string]int{}
	partitionOfKey := map[string]int32{}
	for _, r := range got {
		v, err := strconv.Atoi(string(r.Value))
		if err != nil {
			return fmt.Errorf("bad value %q", r.Value)
		}
		k := string(r.Key)
		if last, ok := lastByKey[k]; ok && v <= last {
			return fmt.Errorf("key %s: value %d after %d", k, v, last)
		}
		if p, ok := partitionOfKey[k]; ok && p != r.Partition {
			return fmt.Errorf("key %s in partitions %d and %d", k, p, r.Partition)
		}
		lastByKey[k], partitionOfKey[k] = v, r.Partition
	}
	return nil
}

// Headers is what the headers scenario sends on its one record (value "v"): a repeated key and
// a binary value.
func Headers() []Header {
	return []Header{
		{Key: "trace", Value: []byte("a")},
		{Key: "trace", Value: []byte("b")},
		{Key: "bin", Value: []byte{0x00, 0xff, 0x10, 0x80}},
	}
}

// CheckHeaders checks the headers that came back against Headers, in order.
func CheckHeaders(got []Header) error {
	want := Headers()
	if len(got) != len(want) {
		return fmt.Errorf("got %d headers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			return fmt.Errorf("header %d: got %s=%x, want %s=%x", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
	return nil
}

// NullAndEmptyRecords are a tombstone (null value), an empty value and an empty key.
func NullAndEmptyRecords() []Record {
	return []Record{
		{Key: []byte("tombstone"), Value: nil},
		{Key: []byte("empty"), Value: []byte{}},
		{Key: []byte{}, Value: []byte("empty-key")},
	}
}

// CheckNullAndEmpty checks NullAndEmptyRecords came back in order with null and empty distinct.
func CheckNullAndEmpty(got []Record) error {
	if len(got) != 3 {
		return fmt.Errorf("consumed %d records, want 3", len(got))
	}
	switch {
	case string(got[0].Key) != "tombstone" || got[0].Value != nil:
		return fmt.Errorf("record 0: want a null value, got key %q value %v", got[0].Key, got[0].Value)
	case string(got[1].Key) != "empty" || got[1].Value == nil || len(got[1].Value) != 0:
		return fmt.Errorf("record 1: want an empty non-null value, got key %q value %v (nil=%t)", got[1].Key, got[1].Value, got[1].Value == nil)
	case got[2].Key == nil || len(got[2].Key) != 0 || string(got[2].Value) != "empty-key":
		return fmt.Errorf("record 2: want an empty non-null key, got key %v (nil=%t) value %q", got[2].Key, got[2].Key == nil, got[2].Value)
	}
	return nil
}

// BigValueTopicMaxBytes is value_1mib's topic max.message.bytes: room for the 1 MiB value.
const BigValueTopicMaxBytes = "2097152"

// BigValue is value_1mib's value: 1 MiB that does not compress to nothing.
func BigValue() []byte { return bytes.Repeat([]byte("0123456789abcdef"), 1<<16) }

// CheckBigValue checks the value that came back is BigValue.
func CheckBigValue(got []byte) error {
	want := BigValue()
	if !bytes.Equal(got, want) {
		return fmt.Errorf("value of %d bytes came back as %d bytes (or different)", len(want), len(got))
	}
	return nil
}

// codecRecordCount is how many records each codec scenario writes to its one partition.
const codecRecordCount = 100

// CodecRecords are what each codec scenario writes: k0..k99 / v0..v99.
func CodecRecords() []Record {
	recs := make([]Record, codecRecordCount)
	for i := range recs {
		recs[i] = Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
	}
	return recs
}

// CodecRoundTrip is a codec scenario: write creates PREFIX-codec-<codec> and writes CodecRecords
// to it with the codec; read reads a codec topic's records back from the start. Both this
// client's topic and, with --previous-prefix, the previous client's one must read back the same.
func CodecRoundTrip(ctx context.Context, e *Env, codec string,
	write func(ctx context.Context, topic string) error,
	read func(ctx context.Context, topic string, n int) ([]Record, error)) error {
	topic := e.Prefix + "-codec-" + codec
	if err := write(ctx, topic); err != nil {
		return err
	}
	if err := checkCodecTopic(ctx, topic, read); err != nil {
		return err
	}
	if e.PreviousPrefix != "" {
		if err := checkCodecTopic(ctx, e.PreviousPrefix+"-codec-"+codec, read); err != nil {
			return fmt.Errorf("previous client's topic: %w", err)
		}
	}
	return nil
}

// codecReadTimeout bounds reading one codec topic, so a missing previous topic fails in time.
const codecReadTimeout = 20 * time.Second

func checkCodecTopic(ctx context.Context, topic string, read func(context.Context, string, int) ([]Record, error)) error {
	ctx, cancel := context.WithTimeout(ctx, codecReadTimeout)
	defer cancel()
	got, err := read(ctx, topic, codecRecordCount)
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	if len(got) != codecRecordCount {
		return fmt.Errorf("%s: %d records, want %d", topic, len(got), codecRecordCount)
	}
	for i, r := range got {
		if string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("v%d", i) {
			return fmt.Errorf("%s: record %d is %q=%q", topic, i, r.Key, r.Value)
		}
	}
	return nil
}

// IdempotentCount is how many records idempotent_producer writes to its one partition.
const IdempotentCount = 500

// IdempotentRecords are idempotent_producer's records: values 0..499, no key.
func IdempotentRecords() []Record {
	recs := make([]Record, IdempotentCount)
	for i := range recs {
		recs[i] = Record{Value: []byte(strconv.Itoa(i))}
	}
	return recs
}

// CheckIdempotent checks each value i came back once, at offset i.
func CheckIdempotent(got []Record) error {
	if len(got) != IdempotentCount {
		return fmt.Errorf("consumed %d records, want %d", len(got), IdempotentCount)
	}
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i) || r.Offset != int64(i) {
			return fmt.Errorf("offset %d holds %q, want %d at offset %d", r.Offset, r.Value, i, i)
		}
	}
	return nil
}

// PartitionRecords are perPartition records for each of partitions partitions, value
// TAG-PARTITION-I, with Partition set: for a producer that is told the partition.
func PartitionRecords(partitions, perPartition int, tag string) []Record {
	var recs []Record
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			recs = append(recs, Record{Partition: int32(p), Value: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i))})
		}
	}
	return recs
}

// seekRecordCount is how many records seek writes, one second apart.
const seekRecordCount = 10

// SeekRecords are seek's records: values 0..9 at base + i seconds, base a minute ago (to the
// millisecond Kafka keeps), so offsets_for_times has a clear answer; SeekTime(base) is between
// records 4 and 5.
func SeekRecords() (base time.Time, recs []Record) {
	base = time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	recs = make([]Record, seekRecordCount)
	for i := range recs {
		recs[i] = Record{Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
	}
	return base, recs
}

// SeekTime is the timestamp seek looks up: the first record at or after it is offset 5.
func SeekTime(base time.Time) time.Time { return base.Add(4500 * time.Millisecond) }

// TxnBatches are the transactions scenario's three transactions of three records each,
// named a, b and c; b is aborted, a and c committed.
var TxnBatches = []string{"a", "b", "c"}

// TxnAborted reports whether the transaction named name is the one to abort.
func TxnAborted(name string) bool { return name == "b" }

// TxnValues are the values of the transaction named name: name0, name1, name2.
func TxnValues(name string) []string {
	return []string{name + "0", name + "1", name + "2"}
}

// CheckTransactions checks what read_committed and read_uncommitted consumers read back of
// the transactions scenario: only the committed a and c in order, and all nine.
func CheckTransactions(committed, everything []Record) error {
	want := append(TxnValues("a"), TxnValues("c")...)
	if got := values(committed); strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("read_committed read %v, want %v", got, want)
	}
	all := append(append(TxnValues("a"), TxnValues("b")...), TxnValues("c")...)
	if got := values(everything); strings.Join(got, ",") != strings.Join(all, ",") {
		return fmt.Errorf("read_uncommitted read %v, want %v", got, all)
	}
	return nil
}

func values(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

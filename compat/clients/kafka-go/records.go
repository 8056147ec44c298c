package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

func scenarioMetadata(ctx context.Context, e *env) error {
	topic := e.prefix + "-metadata"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	resp, err := adminClient(e).Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	for _, t := range resp.Topics {
		if t.Name == topic {
			if len(t.Partitions) != 3 {
				return fmt.Errorf("topic has %d partitions, want 3", len(t.Partitions))
			}
			return nil
		}
	}
	return fmt.Errorf("topic %s missing from the topic list", topic)
}

func scenarioProduceConsume(ctx context.Context, e *env) error {
	topic := e.prefix + "-produce-consume"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	const n = 300
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%10)), Value: []byte(strconv.Itoa(i))}
	}
	if err := produceSync(ctx, e, msgs, nil); err != nil {
		return err
	}
	got, err := consumeAll(ctx, e, topic, 3)
	if err != nil {
		return err
	}
	if len(got) != n {
		return fmt.Errorf("consumed %d records, want %d", len(got), n)
	}
	// Per key (so per partition) the values must come back in production order, each once.
	lastByKey := map[string]int{}
	partitionOfKey := map[string]int{}
	for _, m := range got {
		v, err := strconv.Atoi(string(m.Value))
		if err != nil {
			return fmt.Errorf("bad value %q", m.Value)
		}
		k := string(m.Key)
		if last, ok := lastByKey[k]; ok && v <= last {
			return fmt.Errorf("key %s: value %d after %d", k, v, last)
		}
		if p, ok := partitionOfKey[k]; ok && p != m.Partition {
			return fmt.Errorf("key %s in partitions %d and %d", k, p, m.Partition)
		}
		lastByKey[k], partitionOfKey[k] = v, m.Partition
	}
	return nil
}

func scenarioHeaders(ctx context.Context, e *env) error {
	topic := e.prefix + "-headers"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	want := []kafka.Header{
		{Key: "trace", Value: []byte("a")},
		{Key: "trace", Value: []byte("b")},
		{Key: "bin", Value: []byte{0x00, 0xff, 0x10, 0x80}},
	}
	if err := produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: []byte("v"), Headers: want}}, nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 1)
	if err != nil {
		return err
	}
	h := got[0].Headers
	if len(h) != len(want) {
		return fmt.Errorf("got %d headers, want %d", len(h), len(want))
	}
	for i := range want {
		if h[i].Key != want[i].Key || !bytes.Equal(h[i].Value, want[i].Value) {
			return fmt.Errorf("header %d: got %s=%x, want %s=%x", i, h[i].Key, h[i].Value, want[i].Key, want[i].Value)
		}
	}
	return nil
}

func scenarioNullAndEmptyValues(ctx context.Context, e *env) error {
	topic := e.prefix + "-null-empty"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	msgs := []kafka.Message{
		{Topic: topic, Key: []byte("tombstone"), Value: nil},
		{Topic: topic, Key: []byte("empty"), Value: []byte{}},
		{Topic: topic, Key: []byte{}, Value: []byte("empty-key")},
	}
	if err := produceSync(ctx, e, msgs, func(w *kafka.Writer) { w.Balancer = manualPartition }); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 3)
	if err != nil {
		return err
	}
	// kafka-go's Reader decodes zero-length bytes as nil (the writer does send them as empty, not
	// null), so only lengths and order can be checked here, not null versus empty.
	switch {
	case string(got[0].Key) != "tombstone" || got[0].Value != nil:
		return fmt.Errorf("record 0: want a null value, got key %q value %v", got[0].Key, got[0].Value)
	case string(got[1].Key) != "empty" || len(got[1].Value) != 0:
		return fmt.Errorf("record 1: want an empty value, got key %q value %v", got[1].Key, got[1].Value)
	case len(got[2].Key) != 0 || string(got[2].Value) != "empty-key":
		return fmt.Errorf("record 2: want an empty key, got key %v value %q", got[2].Key, got[2].Value)
	}
	return skipError{"kafka-go's Reader returns empty bytes as nil, so it cannot tell an empty value or key from null (lengths and order checked)"}
}

func scenarioValue1MiB(ctx context.Context, e *env) error {
	topic := e.prefix + "-value-1mib"
	if err := createTopic(ctx, e, topic, 1, map[string]string{"max.message.bytes": "2097152"}); err != nil {
		return err
	}
	value := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	msg := kafka.Message{Topic: topic, Key: []byte("big"), Value: value}
	if err := produceSync(ctx, e, []kafka.Message{msg}, func(w *kafka.Writer) { w.BatchBytes = 2 << 20 }); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 1)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[0].Value, value) {
		return fmt.Errorf("value of %d bytes came back as %d bytes (or different)", len(value), len(got[0].Value))
	}
	return nil
}

var codecs = map[string]compress.Compression{
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// compressionScenario produces k0..k99/v0..v99 with one codec, reads them back, and reads the
// previous client's topic of the same codec (the cross-client check).
func compressionScenario(codec string) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		topic := e.prefix + "-codec-" + codec
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		msgs := make([]kafka.Message, 100)
		for i := range msgs {
			msgs[i] = kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		}
		if err := produceSync(ctx, e, msgs, func(w *kafka.Writer) { w.Compression = codecs[codec] }); err != nil {
			return err
		}
		if err := checkCodecTopic(ctx, e, topic); err != nil {
			return err
		}
		if e.previousPrefix != "" {
			if err := checkCodecTopic(ctx, e, e.previousPrefix+"-codec-"+codec); err != nil {
				return fmt.Errorf("previous client's topic: %w", err)
			}
		}
		return nil
	}
}

func checkCodecTopic(ctx context.Context, e *env, topic string) error {
	t, err := topicMetadata(ctx, e, topic)
	if err == nil {
		err = t.Error
	}
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 100)
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	for i, m := range got {
		if string(m.Key) != fmt.Sprintf("k%d", i) || string(m.Value) != fmt.Sprintf("v%d", i) {
			return fmt.Errorf("%s: record %d is %q=%q", topic, i, m.Key, m.Value)
		}
	}
	return nil
}

func scenarioPartitionerMurmur2(ctx context.Context, e *env) error {
	expected, err := loadExpectedMurmur2(e)
	if err != nil {
		return err
	}
	topic := e.prefix + "-murmur2"
	if err := createTopic(ctx, e, topic, 12, nil); err != nil {
		return err
	}
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte("x")}
	}
	// Murmur2Balancer is kafka-go's Java-compatible partitioner (newWriter's default here).
	if err := produceSync(ctx, e, msgs, nil); err != nil {
		return err
	}
	// Where each key landed, read back from the broker.
	got, err := consumeAll(ctx, e, topic, 12)
	if err != nil {
		return err
	}
	if len(got) != len(msgs) {
		return fmt.Errorf("read back %d records, want %d", len(got), len(msgs))
	}
	for _, m := range got {
		want, ok := expected[string(m.Key)]
		if !ok {
			return fmt.Errorf("no expected partition for %s", m.Key)
		}
		if m.Partition != want {
			return fmt.Errorf("%s landed in partition %d, Java puts it in %d", m.Key, m.Partition, want)
		}
	}
	return nil
}

func scenarioIdempotentProducer(context.Context, *env) error {
	return skipError{"kafka-go's Writer has no idempotent producer"}
}

func scenarioTransactions(context.Context, *env) error {
	return skipError{"transactions not implemented in vltava yet"}
}

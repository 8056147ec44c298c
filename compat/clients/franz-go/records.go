package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func scenarioMetadata(ctx context.Context, e *env) error {
	topic := e.prefix + "-metadata"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		md, err := adm.Metadata(ctx)
		if err != nil {
			return err
		}
		if len(md.Brokers) == 0 {
			return errors.New("metadata lists no brokers")
		}
		d, ok := md.Topics[topic]
		if !ok {
			return fmt.Errorf("topic %s missing from the topic list", topic)
		}
		if len(d.Partitions) != 3 {
			return fmt.Errorf("topic has %d partitions, want 3", len(d.Partitions))
		}
		return nil
	})
}

func scenarioProduceConsume(ctx context.Context, e *env) error {
	topic := e.prefix + "-produce-consume"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	const n = 300
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%10)), Value: []byte(strconv.Itoa(i))}
	}
	if err := produceSync(ctx, e, recs); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, n)
	if err != nil {
		return err
	}
	if len(got) != n {
		return fmt.Errorf("consumed %d records, want %d", len(got), n)
	}
	// Per key (so per partition) the values must come back in production order, each once.
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

func scenarioHeaders(ctx context.Context, e *env) error {
	topic := e.prefix + "-headers"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	want := []kgo.RecordHeader{
		{Key: "trace", Value: []byte("a")},
		{Key: "trace", Value: []byte("b")},
		{Key: "bin", Value: []byte{0x00, 0xff, 0x10, 0x80}},
	}
	if err := produceSync(ctx, e, []*kgo.Record{{Topic: topic, Value: []byte("v"), Headers: want}}); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 1)
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
	recs := []*kgo.Record{
		{Topic: topic, Key: []byte("tombstone"), Value: nil},
		{Topic: topic, Key: []byte("empty"), Value: []byte{}},
		{Topic: topic, Key: []byte{}, Value: []byte("empty-key")},
	}
	if err := produceSync(ctx, e, recs); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 3)
	if err != nil {
		return err
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

func scenarioValue1MiB(ctx context.Context, e *env) error {
	topic := e.prefix + "-value-1mib"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": strPtr("2097152")}); err != nil {
		return err
	}
	value := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := produceSync(ctx, e, []*kgo.Record{{Topic: topic, Key: []byte("big"), Value: value}},
		kgo.ProducerBatchMaxBytes(2<<20)); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 1)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[0].Value, value) {
		return fmt.Errorf("value of %d bytes came back as %d bytes (or different)", len(value), len(got[0].Value))
	}
	return nil
}

var codecs = map[string]kgo.CompressionCodec{
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// compressionScenario produces k0..k99/v0..v99 with one codec, reads them back, and reads the
// previous client's topic of the same codec (the cross-client check).
func compressionScenario(codec string) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		topic := e.prefix + "-codec-" + codec
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		recs := make([]*kgo.Record, 100)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		}
		if err := produceSync(ctx, e, recs, kgo.ProducerBatchCompression(codecs[codec])); err != nil {
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
	err := withAdmin(e, func(adm *kadm.Client) error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		return md.Topics[topic].Err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := consumeN(ctx, e, topic, 100)
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	if len(got) != 100 {
		return fmt.Errorf("%s: %d records, want 100", topic, len(got))
	}
	for i, r := range got {
		if string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("v%d", i) {
			return fmt.Errorf("%s: record %d is %q=%q", topic, i, r.Key, r.Value)
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
	recs := make([]*kgo.Record, 100)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte("x")}
	}
	// StickyKeyPartitioner(nil) hashes keys with Kafka's murmur2, as Java's default partitioner does.
	err = produceSync(ctx, e, recs, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	for _, r := range recs {
		want, ok := expected[string(r.Key)]
		if !ok {
			return fmt.Errorf("no expected partition for %s", r.Key)
		}
		if r.Partition != want {
			return fmt.Errorf("%s landed in partition %d, Java puts it in %d", r.Key, r.Partition, want)
		}
	}
	return nil
}

func scenarioIdempotentProducer(ctx context.Context, e *env) error {
	topic := e.prefix + "-idempotent"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	const n = 500
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
	}
	// franz-go is idempotent by default; acks=all is what idempotence requires.
	err := produceSync(ctx, e, recs, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	for i, r := range recs {
		if r.ProducerID < 0 {
			return fmt.Errorf("record %d was produced without a producer id", i)
		}
	}
	if err := checkEndOffset(ctx, e, topic, n); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, n)
	if err != nil {
		return err
	}
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i) || r.Offset != int64(i) {
			return fmt.Errorf("offset %d holds %q, want %d at offset %d", r.Offset, r.Value, i, i)
		}
	}
	return nil
}

func scenarioTransactions(context.Context, *env) error {
	return skipError{"transactions not implemented in vltava yet"}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

func scenarioMetadata(ctx context.Context, e *env) error {
	topic := e.prefix + "-metadata"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		brokers, _, err := adm.DescribeCluster()
		if err != nil {
			return err
		}
		if len(brokers) == 0 {
			return errors.New("metadata lists no brokers")
		}
		topics, err := adm.ListTopics()
		if err != nil {
			return err
		}
		d, ok := topics[topic]
		if !ok {
			return fmt.Errorf("topic %s missing from the topic list", topic)
		}
		if d.NumPartitions != 3 {
			return fmt.Errorf("topic has %d partitions, want 3", d.NumPartitions)
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
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("key-" + strconv.Itoa(i%10)), Value: sarama.StringEncoder(strconv.Itoa(i))}
	}
	if err := produceSync(e, msgs, nil); err != nil {
		return err
	}
	got, err := consumeAll(ctx, e, topic, 3, n)
	if err != nil {
		return err
	}
	// Per key (so per partition) the values must come back in production order, each once.
	lastByKey := map[string]int{}
	partitionOfKey := map[string]int32{}
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
	want := []sarama.RecordHeader{
		{Key: []byte("trace"), Value: []byte("a")},
		{Key: []byte("trace"), Value: []byte("b")},
		{Key: []byte("bin"), Value: []byte{0x00, 0xff, 0x10, 0x80}},
	}
	msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("v"), Headers: want}
	if err := produceSync(e, []*sarama.ProducerMessage{msg}, nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 1)
	if err != nil {
		return err
	}
	h := got[0].Headers
	if len(h) != len(want) {
		return fmt.Errorf("got %d headers, want %d", len(h), len(want))
	}
	for i := range want {
		if !bytes.Equal(h[i].Key, want[i].Key) || !bytes.Equal(h[i].Value, want[i].Value) {
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
	msgs := []*sarama.ProducerMessage{
		{Topic: topic, Key: sarama.StringEncoder("tombstone"), Value: nil},
		{Topic: topic, Key: sarama.StringEncoder("empty"), Value: sarama.ByteEncoder([]byte{})},
		{Topic: topic, Key: sarama.ByteEncoder([]byte{}), Value: sarama.StringEncoder("empty-key")},
	}
	if err := produceSync(e, msgs, nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 3)
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
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("big"), Value: sarama.ByteEncoder(value)}
	if err := produceSync(e, []*sarama.ProducerMessage{msg}, func(c *sarama.Config) { c.Producer.MaxMessageBytes = 2 << 20 }); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 1)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[0].Value, value) {
		return fmt.Errorf("value of %d bytes came back as %d bytes (or different)", len(value), len(got[0].Value))
	}
	return nil
}

var codecs = map[string]sarama.CompressionCodec{
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// compressionScenario produces k0..k99/v0..v99 with one codec, reads them back, and reads the
// previous client's topic of the same codec (the cross-client check).
func compressionScenario(codec string) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		topic := e.prefix + "-codec-" + codec
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		msgs := make([]*sarama.ProducerMessage, 100)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
		}
		if err := produceSync(e, msgs, func(c *sarama.Config) { c.Producer.Compression = codecs[codec] }); err != nil {
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
	err := withClient(e, func(cl sarama.Client) error {
		_, err := cl.Partitions(topic)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 100)
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
	msgs := make([]*sarama.ProducerMessage, 100)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)), Value: sarama.StringEncoder("x")}
	}
	// NewMurmur2Partitioner is sarama's Java-compatible partitioner (its default hashes with FNV-1a).
	if err := produceSync(e, msgs, func(c *sarama.Config) { c.Producer.Partitioner = sarama.NewMurmur2Partitioner }); err != nil {
		return err
	}
	for _, m := range msgs {
		key := string(m.Key.(sarama.StringEncoder))
		want, ok := expected[key]
		if !ok {
			return fmt.Errorf("no expected partition for %s", key)
		}
		if m.Partition != want {
			return fmt.Errorf("%s landed in partition %d, Java puts it in %d", key, m.Partition, want)
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
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strconv.Itoa(i))}
	}
	// Idempotence in sarama requires acks=all and one request in flight per connection.
	err := produceSync(e, msgs, func(c *sarama.Config) {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
		c.Producer.Flush.Messages = 50
	})
	if err != nil {
		return err
	}
	if err := checkEndOffset(e, topic, n); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, n)
	if err != nil {
		return err
	}
	for i, m := range got {
		if string(m.Value) != strconv.Itoa(i) || m.Offset != int64(i) {
			return fmt.Errorf("offset %d holds %q, want %d at offset %d", m.Offset, m.Value, i, i)
		}
	}
	return nil
}

// checkEndOffset fails unless partition 0 of topic ends at want (no duplicates were written).
func checkEndOffset(e *env, topic string, want int64) error {
	return withClient(e, func(cl sarama.Client) error {
		end, err := cl.GetOffset(topic, 0, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		if end != want {
			return fmt.Errorf("end offset of %s is %d, want %d", topic, end, want)
		}
		return nil
	})
}

func scenarioTransactions(context.Context, *env) error {
	return skipError{"transactions not implemented in vltava yet"}
}

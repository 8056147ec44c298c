package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"vltava.dev/compat"
)

func (client) Metadata(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-metadata"
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

func (client) ProduceConsume(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-produce-consume"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	if err := produceSync(ctx, e, toKafkaGo(topic, compat.ProduceConsumeRecords()), nil); err != nil {
		return err
	}
	got, err := consumeAll(ctx, e, topic, 3)
	if err != nil {
		return err
	}
	return compat.CheckProduceConsume(fromKafkaGo(got))
}

func (client) Headers(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-headers"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	msgs := toKafkaGo(topic, []compat.Record{{Value: []byte("v"), Headers: compat.Headers()}})
	if err := produceSync(ctx, e, msgs, nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 1)
	if err != nil {
		return err
	}
	return compat.CheckHeaders(fromKafkaGo(got)[0].Headers)
}

func (client) NullAndEmptyValues(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-null-empty"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	msgs := toKafkaGo(topic, compat.NullAndEmptyRecords())
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
	return compat.Skip("kafka-go's Reader returns empty bytes as nil, so it cannot tell an empty value or key from null (lengths and order checked)")
}

func (client) Value1MiB(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-value-1mib"
	if err := createTopic(ctx, e, topic, 1, map[string]string{"max.message.bytes": compat.BigValueTopicMaxBytes}); err != nil {
		return err
	}
	msgs := toKafkaGo(topic, []compat.Record{{Key: []byte("big"), Value: compat.BigValue()}})
	if err := produceSync(ctx, e, msgs, func(w *kafka.Writer) { w.BatchBytes = 2 << 20 }); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, 1)
	if err != nil {
		return err
	}
	return compat.CheckBigValue(got[0].Value)
}

var codecs = map[string]compress.Compression{
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// Compression writes the codec records with one codec (see compat.CodecRoundTrip).
func (client) Compression(ctx context.Context, e *compat.Env, codec string) error {
	write := func(ctx context.Context, topic string) error {
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		return produceSync(ctx, e, toKafkaGo(topic, compat.CodecRecords()), func(w *kafka.Writer) { w.Compression = codecs[codec] })
	}
	read := func(ctx context.Context, topic string, n int) ([]compat.Record, error) {
		t, err := topicMetadata(ctx, e, topic)
		if err == nil {
			err = t.Error
		}
		if err != nil {
			return nil, err
		}
		got, err := consumePartition(ctx, e, topic, 0, kafka.FirstOffset, n)
		return fromKafkaGo(got), err
	}
	return compat.CodecRoundTrip(ctx, e, codec, write, read)
}

func (client) PartitionerMurmur2(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-murmur2"
	if err := createTopic(ctx, e, topic, compat.Murmur2Partitions, nil); err != nil {
		return err
	}
	// Murmur2Balancer is kafka-go's Java-compatible partitioner (newWriter's default here).
	if err := produceSync(ctx, e, toKafkaGo(topic, compat.Murmur2Records()), nil); err != nil {
		return err
	}
	// Where each key landed, read back from the broker.
	got, err := consumeAll(ctx, e, topic, compat.Murmur2Partitions)
	if err != nil {
		return err
	}
	return compat.CheckMurmur2(e, fromKafkaGo(got))
}

func (client) IdempotentProducer(context.Context, *compat.Env) error {
	return compat.Skip("kafka-go's Writer has no idempotent producer")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

func (client) Metadata(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-metadata"
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

func (client) ProduceConsume(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-produce-consume"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	recs := toKgo(topic, compat.ProduceConsumeRecords())
	if err := produceSync(ctx, e, recs); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, len(recs))
	if err != nil {
		return err
	}
	return compat.CheckProduceConsume(fromKgo(got))
}

func (client) Headers(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-headers"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	recs := toKgo(topic, []compat.Record{{Value: []byte("v"), Headers: compat.Headers()}})
	if err := produceSync(ctx, e, recs); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 1)
	if err != nil {
		return err
	}
	return compat.CheckHeaders(fromKgo(got)[0].Headers)
}

func (client) NullAndEmptyValues(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-null-empty"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceSync(ctx, e, toKgo(topic, compat.NullAndEmptyRecords())); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 3)
	if err != nil {
		return err
	}
	return compat.CheckNullAndEmpty(fromKgo(got))
}

func (client) Value1MiB(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-value-1mib"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": compat.StrPtr(compat.BigValueTopicMaxBytes)}); err != nil {
		return err
	}
	recs := toKgo(topic, []compat.Record{{Key: []byte("big"), Value: compat.BigValue()}})
	if err := produceSync(ctx, e, recs, kgo.ProducerBatchMaxBytes(2<<20)); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, 1)
	if err != nil {
		return err
	}
	return compat.CheckBigValue(got[0].Value)
}

var codecs = map[string]kgo.CompressionCodec{
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// Compression writes the codec records with one codec (see compat.CodecRoundTrip).
func (client) Compression(ctx context.Context, e *compat.Env, codec string) error {
	write := func(ctx context.Context, topic string) error {
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		return produceSync(ctx, e, toKgo(topic, compat.CodecRecords()), kgo.ProducerBatchCompression(codecs[codec]))
	}
	read := func(ctx context.Context, topic string, n int) ([]compat.Record, error) {
		err := withAdmin(e, func(adm *kadm.Client) error {
			md, err := adm.Metadata(ctx, topic)
			if err != nil {
				return err
			}
			return md.Topics[topic].Err
		})
		if err != nil {
			return nil, err
		}
		got, err := consumeN(ctx, e, topic, n)
		return fromKgo(got), err
	}
	return compat.CodecRoundTrip(ctx, e, codec, write, read)
}

func (client) PartitionerMurmur2(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-murmur2"
	if err := createTopic(ctx, e, topic, compat.Murmur2Partitions, nil); err != nil {
		return err
	}
	recs := toKgo(topic, compat.Murmur2Records())
	// StickyKeyPartitioner(nil) hashes keys with Kafka's murmur2, as Java's default partitioner does.
	if err := produceSync(ctx, e, recs, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))); err != nil {
		return err
	}
	return compat.CheckMurmur2(e, fromKgo(recs)) // the produce sets each record's partition
}

func (client) IdempotentProducer(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-idempotent"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	recs := toKgo(topic, compat.IdempotentRecords())
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
	if err := checkEndOffset(ctx, e, topic, compat.IdempotentCount); err != nil {
		return err
	}
	got, err := consumeN(ctx, e, topic, compat.IdempotentCount)
	if err != nil {
		return err
	}
	return compat.CheckIdempotent(fromKgo(got))
}

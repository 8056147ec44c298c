package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

func (client) Metadata(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-metadata"
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

func (client) ProduceConsume(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-produce-consume"
	if err := createTopic(ctx, e, topic, 3, nil); err != nil {
		return err
	}
	msgs := toSarama(topic, compat.ProduceConsumeRecords())
	if err := produceSync(e, msgs, nil); err != nil {
		return err
	}
	got, err := consumeAll(ctx, e, topic, 3, len(msgs))
	if err != nil {
		return err
	}
	return compat.CheckProduceConsume(fromSarama(got))
}

func (client) Headers(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-headers"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	msgs := toSarama(topic, []compat.Record{{Value: []byte("v"), Headers: compat.Headers()}})
	if err := produceSync(e, msgs, nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 1)
	if err != nil {
		return err
	}
	return compat.CheckHeaders(fromSarama(got)[0].Headers)
}

func (client) NullAndEmptyValues(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-null-empty"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceSync(e, toSarama(topic, compat.NullAndEmptyRecords()), nil); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 3)
	if err != nil {
		return err
	}
	return compat.CheckNullAndEmpty(fromSarama(got))
}

func (client) Value1MiB(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-value-1mib"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": compat.StrPtr(compat.BigValueTopicMaxBytes)}); err != nil {
		return err
	}
	msgs := toSarama(topic, []compat.Record{{Key: []byte("big"), Value: compat.BigValue()}})
	if err := produceSync(e, msgs, func(c *sarama.Config) { c.Producer.MaxMessageBytes = 2 << 20 }); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, 1)
	if err != nil {
		return err
	}
	return compat.CheckBigValue(got[0].Value)
}

var codecs = map[string]sarama.CompressionCodec{
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// Compression writes the codec records with one codec (see compat.CodecRoundTrip).
func (client) Compression(ctx context.Context, e *compat.Env, codec string) error {
	write := func(ctx context.Context, topic string) error {
		if err := createTopic(ctx, e, topic, 1, nil); err != nil {
			return err
		}
		return produceSync(e, toSarama(topic, compat.CodecRecords()), func(c *sarama.Config) { c.Producer.Compression = codecs[codec] })
	}
	read := func(ctx context.Context, topic string, n int) ([]compat.Record, error) {
		err := withClient(e, func(cl sarama.Client) error {
			_, err := cl.Partitions(topic)
			return err
		})
		if err != nil {
			return nil, err
		}
		got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, n)
		return fromSarama(got), err
	}
	return compat.CodecRoundTrip(ctx, e, codec, write, read)
}

func (client) PartitionerMurmur2(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-murmur2"
	if err := createTopic(ctx, e, topic, compat.Murmur2Partitions, nil); err != nil {
		return err
	}
	msgs := toSarama(topic, compat.Murmur2Records())
	// NewMurmur2Partitioner is sarama's Java-compatible partitioner (its default hashes with FNV-1a).
	if err := produceSync(e, msgs, func(c *sarama.Config) { c.Producer.Partitioner = sarama.NewMurmur2Partitioner }); err != nil {
		return err
	}
	recs, err := placed(msgs)
	if err != nil {
		return err
	}
	return compat.CheckMurmur2(e, recs)
}

func (client) IdempotentProducer(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-idempotent"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	msgs := toSarama(topic, compat.IdempotentRecords())
	// Idempotence in sarama requires acks=all and one request in flight per connection.
	err := produceSync(e, msgs, func(c *sarama.Config) {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
		c.Producer.Flush.Messages = 50
	})
	if err != nil {
		return err
	}
	if err := checkEndOffset(e, topic, compat.IdempotentCount); err != nil {
		return err
	}
	got, err := consumePartition(ctx, e, topic, 0, sarama.OffsetOldest, compat.IdempotentCount)
	if err != nil {
		return err
	}
	return compat.CheckIdempotent(fromSarama(got))
}

// checkEndOffset fails unless partition 0 of topic ends at want (no duplicates were written).
func checkEndOffset(e *compat.Env, topic string, want int64) error {
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

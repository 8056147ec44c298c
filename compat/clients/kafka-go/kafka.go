package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"vltava.dev/compat"
)

// adminClient is kafka-go's request-level client, used for everything that is not produce/consume.
func adminClient(e *compat.Env) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(e.Brokers()...), Timeout: 15 * time.Second}
}

// createTopic creates a topic with replication factor 1 and waits until every partition has a leader.
func createTopic(ctx context.Context, e *compat.Env, topic string, partitions int, configs map[string]string) error {
	if err := createTopicOnce(ctx, e, topic, partitions, configs); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := waitForLeaders(ctx, e, topic, partitions); err != nil {
		return err
	}
	return compat.WaitTopicEverywhere(ctx, e, topic, partitions)
}

// createTopicOnce sends one CreateTopics request and returns the topic's error.
func createTopicOnce(ctx context.Context, e *compat.Env, topic string, partitions int, configs map[string]string) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := adminClient(e).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

// topicMetadata returns the metadata of one topic (its Error set when it does not exist).
func topicMetadata(ctx context.Context, e *compat.Env, topic string) (kafka.Topic, error) {
	resp, err := adminClient(e).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return kafka.Topic{}, err
	}
	for _, t := range resp.Topics {
		if t.Name == topic {
			return t, nil
		}
	}
	return kafka.Topic{}, fmt.Errorf("metadata has no entry for %s", topic)
}

// waitForLeaders polls metadata until topic has the partition count with a leader each.
func waitForLeaders(ctx context.Context, e *compat.Env, topic string, partitions int) error {
	err := compat.Poll(ctx, 100, func() error {
		t, err := topicMetadata(ctx, e, topic)
		switch {
		case err != nil:
			return err
		case t.Error != nil:
			return t.Error
		case len(t.Partitions) != partitions:
			return fmt.Errorf("%d partitions, want %d", len(t.Partitions), partitions)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return fmt.Errorf("partition %d has no leader (%v)", p.ID, p.Error)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("topic %s not ready: %w", topic, err)
	}
	return nil
}

// toKafkaGo is recs as kafka-go messages to topic.
func toKafkaGo(topic string, recs []compat.Record) []kafka.Message {
	out := make([]kafka.Message, len(recs))
	for i, r := range recs {
		out[i] = kafka.Message{Topic: topic, Partition: int(r.Partition), Key: r.Key, Value: r.Value, Time: r.Timestamp}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// fromKafkaGo is what the checks need of consumed messages.
func fromKafkaGo(msgs []kafka.Message) []compat.Record {
	out := make([]compat.Record, len(msgs))
	for i, m := range msgs {
		out[i] = compat.Record{Key: m.Key, Value: m.Value, Partition: int32(m.Partition), Offset: m.Offset}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, compat.Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// newWriter is a synchronous writer with acks=all, tuned by tune.
func newWriter(e *compat.Env, tune func(*kafka.Writer)) *kafka.Writer {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(e.Brokers()...),
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		BatchSize:              1000,
		AllowAutoTopicCreation: false,
	}
	if tune != nil {
		tune(w)
	}
	return w
}

// produceSync writes msgs and returns the first per-message error, if any.
func produceSync(ctx context.Context, e *compat.Env, msgs []kafka.Message, tune func(*kafka.Writer)) error {
	w := newWriter(e, tune)
	defer func() { _ = w.Close() }()
	err := w.WriteMessages(ctx, msgs...)
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, we := range werrs {
			if we != nil {
				return we
			}
		}
	}
	return err
}

// manualPartition makes the writer honour each message's Partition field.
var manualPartition = kafka.BalancerFunc(func(msg kafka.Message, _ ...int) int { return msg.Partition })

// newPartitionReader reads one partition (no group) starting at offset.
func newPartitionReader(e *compat.Env, topic string, partition int, offset int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   e.Brokers(),
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	if err := r.SetOffset(offset); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// consumePartition reads n messages of one partition starting at offset.
func consumePartition(ctx context.Context, e *compat.Env, topic string, partition int, offset int64, n int) ([]kafka.Message, error) {
	r, err := newPartitionReader(e, topic, partition, offset)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	var msgs []kafka.Message
	for len(msgs) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return msgs, fmt.Errorf("read %d of %d messages of %s[%d]: %w", len(msgs), n, topic, partition, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// consumeAll reads everything up to each partition's end offset, all partitions of topic.
func consumeAll(ctx context.Context, e *compat.Env, topic string, partitions int) ([]kafka.Message, error) {
	var all []kafka.Message
	for p := 0; p < partitions; p++ {
		end, err := offsetOf(ctx, e, topic, p, kafka.LastOffsetOf(p))
		if err != nil {
			return nil, err
		}
		if end == 0 {
			continue
		}
		msgs, err := consumePartition(ctx, e, topic, p, kafka.FirstOffset, int(end))
		if err != nil {
			return nil, err
		}
		all = append(all, msgs...)
	}
	return all, nil
}

// offsetOf answers one ListOffsets question (first, last or by time) for one partition.
func offsetOf(ctx context.Context, e *compat.Env, topic string, partition int, req kafka.OffsetRequest) (int64, error) {
	resp, err := adminClient(e).ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {req}}})
	if err != nil {
		return 0, err
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition != partition {
			continue
		}
		if po.Error != nil {
			return 0, po.Error
		}
		switch {
		case req.Timestamp == kafka.FirstOffset:
			return po.FirstOffset, nil
		case req.Timestamp == kafka.LastOffset:
			return po.LastOffset, nil
		}
		for off := range po.Offsets {
			return off, nil
		}
		return -1, nil
	}
	return 0, fmt.Errorf("no offsets for %s[%d]", topic, partition)
}

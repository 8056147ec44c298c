package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

// newConfig is the base configuration: a protocol version Kafka 4 still serves (it dropped the
// oldest request versions sarama's default would use) and no auto topic creation.
func newConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "compat-sarama"
	cfg.Version = sarama.V4_0_0_0
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	return cfg
}

// withAdmin runs f with a cluster admin that is closed afterwards.
func withAdmin(e *compat.Env, f func(adm sarama.ClusterAdmin) error) error {
	adm, err := sarama.NewClusterAdmin(e.Brokers(), newConfig())
	if err != nil {
		return err
	}
	defer func() { _ = adm.Close() }()
	return f(adm)
}

// withClient runs f with a plain client that is closed afterwards.
func withClient(e *compat.Env, f func(cl sarama.Client) error) error {
	cl, err := sarama.NewClient(e.Brokers(), newConfig())
	if err != nil {
		return err
	}
	defer func() { _ = cl.Close() }()
	return f(cl)
}

// createTopic creates a topic with replication factor 1 and waits until every partition has a leader.
func createTopic(ctx context.Context, e *compat.Env, topic string, partitions int32, configs map[string]*string) error {
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false)
	})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := waitForLeaders(ctx, e, topic, int(partitions)); err != nil {
		return err
	}
	return compat.WaitTopicEverywhere(ctx, e, topic, int(partitions))
}

// waitForLeaders polls metadata until topic has the partition count with a leader each.
func waitForLeaders(ctx context.Context, e *compat.Env, topic string, partitions int) error {
	err := compat.Poll(ctx, 100, func() error {
		return withClient(e, func(cl sarama.Client) error {
			ps, err := cl.Partitions(topic)
			if err != nil {
				return err
			}
			if len(ps) != partitions {
				return fmt.Errorf("%d partitions, want %d", len(ps), partitions)
			}
			for _, p := range ps {
				if _, err := cl.Leader(topic, p); err != nil {
					return fmt.Errorf("partition %d: %w", p, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("topic %s not ready: %w", topic, err)
	}
	return nil
}

// toSarama is recs as sarama messages to topic; a nil key or value stays null.
func toSarama(topic string, recs []compat.Record) []*sarama.ProducerMessage {
	out := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition, Timestamp: r.Timestamp}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		out[i] = m
	}
	return out
}

// fromSarama is what the checks need of consumed messages.
func fromSarama(msgs []*sarama.ConsumerMessage) []compat.Record {
	out := make([]compat.Record, len(msgs))
	for i, m := range msgs {
		out[i] = compat.Record{Key: m.Key, Value: m.Value, Partition: m.Partition, Offset: m.Offset}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, compat.Header{Key: string(h.Key), Value: h.Value})
		}
	}
	return out
}

// placed is the key and partition of each acknowledged message (the producer sets Partition).
func placed(msgs []*sarama.ProducerMessage) ([]compat.Record, error) {
	out := make([]compat.Record, len(msgs))
	for i, m := range msgs {
		key, err := m.Key.Encode()
		if err != nil {
			return nil, err
		}
		out[i] = compat.Record{Key: key, Partition: m.Partition, Offset: m.Offset}
	}
	return out, nil
}

// produceSync sends msgs with a sync producer whose config tune adjusts.
func produceSync(e *compat.Env, msgs []*sarama.ProducerMessage, tune func(*sarama.Config)) error {
	cfg := newConfig()
	if tune != nil {
		tune(cfg)
	}
	p, err := sarama.NewSyncProducer(e.Brokers(), cfg)
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	if err := p.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			return perrs[0].Err
		}
		return err
	}
	return nil
}

// consumePartition reads n messages of one partition starting at offset (no group).
func consumePartition(ctx context.Context, e *compat.Env, topic string, partition int32, offset int64, n int) ([]*sarama.ConsumerMessage, error) {
	cfg := newConfig()
	cfg.Consumer.Fetch.Default = 4 << 20
	return consumePartitionWith(ctx, e, cfg, topic, partition, offset, n)
}

// consumePartitionWith is consumePartition with the consumer configuration cfg.
func consumePartitionWith(ctx context.Context, e *compat.Env, cfg *sarama.Config, topic string, partition int32, offset int64, n int) ([]*sarama.ConsumerMessage, error) {
	c, err := sarama.NewConsumer(e.Brokers(), cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	pc, err := c.ConsumePartition(topic, partition, offset)
	if err != nil {
		return nil, err
	}
	defer func() { _ = pc.Close() }()
	var msgs []*sarama.ConsumerMessage
	for len(msgs) < n {
		select {
		case m := <-pc.Messages():
			msgs = append(msgs, m)
		case cerr := <-pc.Errors():
			return msgs, cerr
		case <-ctx.Done():
			return msgs, fmt.Errorf("consumed %d of %d messages of %s[%d]: %w", len(msgs), n, topic, partition, ctx.Err())
		}
	}
	return msgs, nil
}

// consumeAll reads n messages across all partitions of topic from the start.
func consumeAll(ctx context.Context, e *compat.Env, topic string, partitions int32, n int) ([]*sarama.ConsumerMessage, error) {
	cfg := newConfig()
	c, err := sarama.NewConsumer(e.Brokers(), cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	in := make(chan *sarama.ConsumerMessage)
	errs := make(chan error, partitions)
	for p := int32(0); p < partitions; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		defer func() { _ = pc.Close() }()
		go func() {
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					select {
					case in <- m:
					case <-ctx.Done():
						return
					}
				case cerr, ok := <-pc.Errors():
					if ok {
						errs <- cerr
					}
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var msgs []*sarama.ConsumerMessage
	for len(msgs) < n {
		select {
		case m := <-in:
			msgs = append(msgs, m)
		case cerr := <-errs:
			return msgs, cerr
		case <-ctx.Done():
			return msgs, fmt.Errorf("consumed %d of %d messages: %w", len(msgs), n, ctx.Err())
		}
	}
	return msgs, nil
}

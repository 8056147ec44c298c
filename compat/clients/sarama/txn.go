package main

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

// Transactions commits a, aborts b (its records acknowledged first, so they are in the log)
// and commits c, then reads the topic back with both isolation levels.
func (client) Transactions(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-transactions"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	cfg := newConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = e.Prefix + "-txn"
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(e.Brokers(), cfg)
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	for _, name := range compat.TxnBatches {
		if err := p.BeginTxn(); err != nil {
			return fmt.Errorf("begin %s: %w", name, err)
		}
		for _, v := range compat.TxnValues(name) {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
				return fmt.Errorf("send %s: %w", v, err)
			}
		}
		end := p.CommitTxn
		if compat.TxnAborted(name) {
			end = p.AbortTxn
		}
		if err := end(); err != nil {
			return fmt.Errorf("end %s: %w", name, err)
		}
	}
	committed, err := readIsolated(ctx, e, topic, sarama.ReadCommitted, 6)
	if err != nil {
		return fmt.Errorf("read_committed: %w", err)
	}
	everything, err := readIsolated(ctx, e, topic, sarama.ReadUncommitted, 9)
	if err != nil {
		return fmt.Errorf("read_uncommitted: %w", err)
	}
	return compat.CheckTransactions(fromSarama(committed), fromSarama(everything))
}

// readIsolated reads n messages of partition 0 from the start at the isolation level.
func readIsolated(ctx context.Context, e *compat.Env, topic string, level sarama.IsolationLevel, n int) ([]*sarama.ConsumerMessage, error) {
	cfg := newConfig()
	cfg.Consumer.IsolationLevel = level
	return consumePartitionWith(ctx, e, cfg, topic, 0, sarama.OffsetOldest, n)
}

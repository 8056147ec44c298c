package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

// Transactions commits a, aborts b (its records flushed first, so they are in the log) and
// commits c, then reads the topic back with both isolation levels.
func (client) Transactions(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-transactions"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	cl, err := newClient(e, kgo.TransactionalID(e.Prefix+"-txn"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, name := range compat.TxnBatches {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin %s: %w", name, err)
		}
		for _, v := range compat.TxnValues(name) {
			cl.Produce(ctx, &kgo.Record{Value: []byte(v), Partition: 0}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush %s: %w", name, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(!compat.TxnAborted(name))); err != nil {
			return fmt.Errorf("end %s: %w", name, err)
		}
	}
	committed, err := consumeN(ctx, e, topic, 6, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return fmt.Errorf("read_committed: %w", err)
	}
	everything, err := consumeN(ctx, e, topic, 9, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if err != nil {
		return fmt.Errorf("read_uncommitted: %w", err)
	}
	return compat.CheckTransactions(fromKgo(committed), fromKgo(everything))
}

package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

func (client) Seek(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-seek"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	base, recs := compat.SeekRecords()
	msgs := toSarama(topic, recs)
	if err := produceSync(e, msgs, nil); err != nil {
		return err
	}
	var byTime, end int64
	err := withClient(e, func(cl sarama.Client) error {
		var err error
		if byTime, err = cl.GetOffset(topic, 0, compat.SeekTime(base).UnixMilli()); err != nil {
			return err
		}
		end, err = cl.GetOffset(topic, 0, sarama.OffsetNewest)
		return err
	})
	if err != nil {
		return err
	}
	if byTime != 5 || end != 10 {
		return fmt.Errorf("offset for timestamp %d (want 5), end offset %d (want 10)", byTime, end)
	}
	checks := []struct {
		name   string
		offset int64
		want   int64
	}{
		{"beginning", sarama.OffsetOldest, 0},
		{"timestamp", byTime, 5},
		{"end minus one", end - 1, 9},
	}
	for _, c := range checks {
		got, err := consumePartition(ctx, e, topic, 0, c.offset, 1)
		if err != nil {
			return fmt.Errorf("seek to %s: %w", c.name, err)
		}
		if got[0].Offset != c.want || string(got[0].Value) != strconv.FormatInt(c.want, 10) {
			return fmt.Errorf("seek to %s landed on offset %d (%q), want %d", c.name, got[0].Offset, got[0].Value, c.want)
		}
	}
	// Seek to end: a consumer at OffsetNewest sees only what is produced after it started.
	c, err := sarama.NewConsumer(e.Brokers(), newConfig())
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetNewest) // resolves the end offset before returning
	if err != nil {
		return err
	}
	defer func() { _ = pc.Close() }()
	after := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("after-end")}
	if err := produceSync(e, []*sarama.ProducerMessage{after}, nil); err != nil {
		return err
	}
	select {
	case m := <-pc.Messages():
		if m.Offset != 10 || string(m.Value) != "after-end" {
			return fmt.Errorf("seek to end landed on offset %d (%q), want 10", m.Offset, m.Value)
		}
	case cerr := <-pc.Errors():
		return cerr
	case <-ctx.Done():
		return fmt.Errorf("seek to end: nothing consumed: %w", ctx.Err())
	}
	return nil
}

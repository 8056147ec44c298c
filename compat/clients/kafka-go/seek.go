package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"vltava.dev/compat"
)

func (client) Seek(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-seek"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	base, recs := compat.SeekRecords()
	msgs := toKafkaGo(topic, recs)
	if err := produceSync(ctx, e, msgs, nil); err != nil {
		return err
	}
	if byTime, err := offsetOf(ctx, e, topic, 0, kafka.TimeOffsetOf(0, compat.SeekTime(base))); err != nil || byTime != 5 {
		return fmt.Errorf("offset for timestamp is %d (%v), want 5", byTime, err)
	}
	r, err := newPartitionReader(e, topic, 0, kafka.FirstOffset)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	expect := func(what string, want int64) error {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("seek to %s: %w", what, err)
		}
		if m.Offset != want || string(m.Value) != strconv.FormatInt(want, 10) {
			return fmt.Errorf("seek to %s landed on offset %d (%q), want %d", what, m.Offset, m.Value, want)
		}
		return nil
	}
	if err := expect("beginning", 0); err != nil {
		return err
	}
	if err := r.SetOffsetAt(ctx, compat.SeekTime(base)); err != nil {
		return fmt.Errorf("seek to timestamp: %w", err)
	}
	if err := expect("timestamp", 5); err != nil {
		return err
	}
	// Seek to end through a connection to the leader: Seek answers with the resolved offset.
	conn, err := kafka.DialLeader(ctx, "tcp", e.Brokers()[0], topic, 0)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	end, err := conn.Seek(0, kafka.SeekEnd)
	if err != nil {
		return fmt.Errorf("seek to end: %w", err)
	}
	if end != 10 {
		return fmt.Errorf("seek to end landed on offset %d, want 10", end)
	}
	if err := produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: []byte("10")}}, nil); err != nil {
		return err
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	m, err := conn.ReadMessage(1 << 20)
	if err != nil {
		return fmt.Errorf("read after seek to end: %w", err)
	}
	if m.Offset != 10 || string(m.Value) != "10" {
		return fmt.Errorf("read after seek to end got offset %d (%q), want 10", m.Offset, m.Value)
	}
	return nil
}

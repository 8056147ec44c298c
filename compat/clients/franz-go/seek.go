package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

// checkEndOffset fails unless partition 0 of topic ends at want (no duplicates were written).
func checkEndOffset(ctx context.Context, e *compat.Env, topic string, want int64) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		end, ok := ends.Lookup(topic, 0)
		if !ok || end.Err != nil {
			return fmt.Errorf("end offset of %s: %v", topic, end.Err)
		}
		if end.Offset != want {
			return fmt.Errorf("end offset of %s is %d, want %d", topic, end.Offset, want)
		}
		return nil
	})
}

// firstAt consumes partition 0 of topic from offset and returns the first record.
func firstAt(ctx context.Context, e *compat.Env, topic string, offset kgo.Offset) (*kgo.Record, error) {
	cl, err := newClient(e, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: offset}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	recs, err := pollN(ctx, cl, 1)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

func (client) Seek(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-seek"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	base, seekRecs := compat.SeekRecords()
	recs := toKgo(topic, seekRecs)
	if err := produceSync(ctx, e, recs); err != nil {
		return err
	}
	first, err := firstAt(ctx, e, topic, kgo.NewOffset().AtStart())
	if err != nil {
		return fmt.Errorf("seek to beginning: %w", err)
	}
	if first.Offset != 0 {
		return fmt.Errorf("seek to beginning landed on offset %d", first.Offset)
	}
	byTime, err := firstAt(ctx, e, topic, kgo.NewOffset().AfterMilli(compat.SeekTime(base).UnixMilli()))
	if err != nil {
		return fmt.Errorf("seek to timestamp: %w", err)
	}
	if byTime.Offset != 5 || string(byTime.Value) != "5" {
		return fmt.Errorf("seek to timestamp landed on offset %d (%q), want 5", byTime.Offset, byTime.Value)
	}
	err = withAdmin(e, func(adm *kadm.Client) error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		end, _ := ends.Lookup(topic, 0)
		if end.Err != nil || end.Offset != 10 {
			return fmt.Errorf("end offset %d (%v), want 10", end.Offset, end.Err)
		}
		later, err := adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic)
		if err != nil {
			return err
		}
		l, _ := later.Lookup(topic, 0)
		if l.Err != nil || (l.Offset != 10 && l.Offset != -1) {
			return fmt.Errorf("offset for a future timestamp is %d (%v), want the end (10) or -1", l.Offset, l.Err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Seek to end, one back: lands on the last record, so no race with a later produce.
	last, err := firstAt(ctx, e, topic, kgo.NewOffset().AtEnd().Relative(-1))
	if err != nil {
		return fmt.Errorf("seek to end: %w", err)
	}
	if last.Offset != 9 || string(last.Value) != "9" {
		return fmt.Errorf("seek to end minus one landed on offset %d (%q), want 9", last.Offset, last.Value)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"vltava.dev/compat"
)

// groupClient is kafka-go's side of the shared group scenarios.
type groupClient struct{ e *compat.Env }

// member is a Reader with a GroupID, fetching in its own goroutine, handing each message to out
// and committing it (synchronously) when its offset is below commitBelow.
type member struct {
	r    *kafka.Reader
	stop context.CancelFunc
	done chan struct{}
}

func (g groupClient) CreateTopic(ctx context.Context, topic string, partitions int) error {
	return createTopic(ctx, g.e, topic, partitions, nil)
}

func (g groupClient) ProduceToPartitions(ctx context.Context, topic string, partitions, perPartition int, tag string) error {
	return produceToPartitions(ctx, g.e, topic, partitions, perPartition, tag)
}

func (g groupClient) StartMember(ctx context.Context, id int, group, topic string, out chan<- compat.GroupRecord, commitBelow int64) (compat.GroupMember, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           g.e.Brokers(),
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // CommitMessages commits synchronously
		HeartbeatInterval: time.Second,
		MaxWait:           200 * time.Millisecond,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { compat.Logf("member %d: "+f, append([]any{id}, a...)...) }),
	})
	runCtx, stop := context.WithCancel(ctx)
	m := &member{r: r, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for runCtx.Err() == nil {
			msg, err := r.FetchMessage(runCtx)
			if err != nil {
				if runCtx.Err() == nil {
					compat.Logf("member %d fetch: %v", id, err)
				}
				return
			}
			select {
			case out <- compat.GroupRecord{Member: id, Partition: int32(msg.Partition), Offset: msg.Offset}:
			case <-runCtx.Done():
				return
			}
			if msg.Offset < commitBelow {
				if err := r.CommitMessages(runCtx, msg); err != nil && runCtx.Err() == nil {
					compat.Logf("member %d commit: %v", id, err)
				}
			}
		}
	}()
	return m, nil
}

// Close stops fetching and leaves the group.
func (m *member) Close() {
	m.stop()
	<-m.done
	_ = m.r.Close()
}

// WaitBalanced waits until the group is Stable with exactly the members given, owning all
// partitions of topic between them, each at least one (the Reader does not expose its
// assignment, so the coordinator's view is the one checked).
func (g groupClient) WaitBalanced(ctx context.Context, group, topic string, members []compat.GroupMember, partitions int) error {
	err := compat.Poll(ctx, 600, func() error {
		resp, err := adminClient(g.e).DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			return err
		}
		if len(resp.Groups) != 1 {
			return fmt.Errorf("%d groups described", len(resp.Groups))
		}
		d := resp.Groups[0]
		union, ok := map[int]bool{}, d.Error == nil && d.GroupState == "Stable" && len(d.Members) == len(members)
		for _, m := range d.Members {
			owned := 0
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == topic {
					for _, p := range t.Partitions {
						union[p] = true
						owned++
					}
				}
			}
			ok = ok && owned > 0
		}
		if !ok || len(union) != partitions {
			return fmt.Errorf("state %s, %d members, %d partitions owned", d.GroupState, len(d.Members), len(union))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("group never stable with %d members owning %d partitions (%w)", len(members), partitions, err)
	}
	return nil
}

// WaitCommitted polls the group's committed offsets.
func (g groupClient) WaitCommitted(ctx context.Context, group, topic string, partitions int, want int64) error {
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	err := compat.Poll(ctx, 300, func() error {
		resp, err := adminClient(g.e).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
		if err != nil {
			return err
		}
		committed, offsets := 0, ""
		for _, p := range resp.Topics[topic] {
			if p.Error == nil && p.CommittedOffset == want {
				committed++
			}
			offsets += fmt.Sprintf(" %d:%d", p.Partition, p.CommittedOffset)
		}
		if committed != partitions {
			return fmt.Errorf("committed%s", offsets)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commits never reached %d (%w)", want, err)
	}
	return nil
}

func produceToPartitions(ctx context.Context, e *compat.Env, topic string, partitions, perPartition int, tag string) error {
	msgs := toKafkaGo(topic, compat.PartitionRecords(partitions, perPartition, tag))
	return produceSync(ctx, e, msgs, func(w *kafka.Writer) { w.Balancer = manualPartition })
}

func (client) Groups(e *compat.Env) compat.GroupClient { return groupClient{e} }

func (client) CommitAndResume(ctx context.Context, e *compat.Env) error {
	return compat.CommitAndResume(ctx, e, groupClient{e})
}

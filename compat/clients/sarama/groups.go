package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

// groupClient is sarama's side of the shared group scenarios.
type groupClient struct{ e *compat.Env }

// member is one consumer of a group: sarama's Consume loop in its own goroutine, handing each
// message to out and marking it for commit when its offset is below commitBelow.
type member struct {
	id                int
	topic             string
	group             sarama.ConsumerGroup
	out               chan<- compat.GroupRecord
	commitBelow       int64
	compat.Assignment // what the rebalance callbacks last reported
	stop              context.CancelFunc
	done              chan struct{}
}

// Setup records the generation's assignment (sarama's default protocol is eager: the whole set).
func (m *member) Setup(sess sarama.ConsumerGroupSession) error {
	m.Clear()
	m.Add(sess.Claims()[m.topic])
	return nil
}

// Cleanup forgets the assignment at the end of a generation.
func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.Clear()
	return nil
}

func (m *member) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case m.out <- compat.GroupRecord{Member: m.id, Partition: msg.Partition, Offset: msg.Offset}:
			case <-sess.Context().Done():
				return nil
			}
			if msg.Offset < m.commitBelow {
				sess.MarkMessage(msg, "") // committed by the auto-commit loop
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (g groupClient) CreateTopic(ctx context.Context, topic string, partitions int) error {
	return createTopic(ctx, g.e, topic, int32(partitions), nil)
}

func (g groupClient) ProduceToPartitions(_ context.Context, topic string, partitions, perPartition int, tag string) error {
	return produceToPartitions(g.e, topic, partitions, perPartition, tag)
}

func (g groupClient) StartMember(ctx context.Context, id int, group, topic string, out chan<- compat.GroupRecord, commitBelow int64) (compat.GroupMember, error) {
	cfg := newConfig()
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(g.e.Brokers(), group, cfg)
	if err != nil {
		return nil, err
	}
	m := &member{id: id, topic: topic, group: cg, out: out, commitBelow: commitBelow, done: make(chan struct{})}
	runCtx, stop := context.WithCancel(ctx)
	m.stop = stop
	go func() {
		defer close(m.done)
		// Consume returns at every rebalance; the context bounds the loop.
		for runCtx.Err() == nil {
			if err := cg.Consume(runCtx, []string{topic}, m); err != nil && runCtx.Err() == nil {
				compat.Logf("member %d: %v", id, err)
				_ = compat.SleepCtx(runCtx, 100*time.Millisecond)
			}
		}
	}()
	go func() {
		for err := range cg.Errors() {
			compat.Logf("member %d: %v", id, err)
		}
	}()
	return m, nil
}

// Close stops consuming and leaves the group.
func (m *member) Close() {
	m.stop()
	<-m.done
	_ = m.group.Close()
}

// WaitBalanced waits on the members' own view of their assignment (the rebalance callbacks).
func (g groupClient) WaitBalanced(ctx context.Context, _, _ string, members []compat.GroupMember, partitions int) error {
	return compat.WaitAssigned(ctx, members, partitions)
}

// WaitCommitted polls the group's committed offsets.
func (g groupClient) WaitCommitted(ctx context.Context, group, topic string, partitions int, want int64) error {
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	return withAdmin(g.e, func(adm sarama.ClusterAdmin) error {
		err := compat.Poll(ctx, 300, func() error {
			resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
			if err != nil {
				return err
			}
			ok, offsets := true, ""
			for _, p := range ps {
				b := resp.GetBlock(topic, p)
				ok = ok && b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset == want
				if b != nil {
					offsets += fmt.Sprintf(" %d:%d", p, b.Offset)
				}
			}
			if !ok {
				return fmt.Errorf("committed%s", offsets)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("commits never reached %d (%w)", want, err)
		}
		return nil
	})
}

func produceToPartitions(e *compat.Env, topic string, partitions, perPartition int, tag string) error {
	msgs := toSarama(topic, compat.PartitionRecords(partitions, perPartition, tag))
	return produceSync(e, msgs, func(c *sarama.Config) { c.Producer.Partitioner = sarama.NewManualPartitioner })
}

func (client) Groups(e *compat.Env) compat.GroupClient { return groupClient{e} }

func (client) CommitAndResume(ctx context.Context, e *compat.Env) error {
	return compat.CommitAndResume(ctx, e, groupClient{e})
}

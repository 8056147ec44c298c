package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

// groupClient is franz-go's side of the shared group scenarios.
type groupClient struct{ e *compat.Env }

// member is one consumer of a group that polls in its own goroutine and commits what it consumed.
type member struct {
	id                int
	cl                *kgo.Client
	compat.Assignment // what the rebalance callbacks last reported
	stop              context.CancelFunc
	done              chan struct{}
}

func (g groupClient) CreateTopic(ctx context.Context, topic string, partitions int) error {
	return createTopic(ctx, g.e, topic, int32(partitions), nil)
}

func (g groupClient) ProduceToPartitions(ctx context.Context, topic string, partitions, perPartition int, tag string) error {
	return produceToPartitions(ctx, g.e, topic, partitions, perPartition, tag)
}

func (g groupClient) StartMember(ctx context.Context, id int, group, topic string, out chan<- compat.GroupRecord, commitBelow int64) (compat.GroupMember, error) {
	m := &member{id: id, done: make(chan struct{})}
	cl, err := newClient(g.e,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { m.Add(p[topic]) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { m.Remove(p[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { m.Remove(p[topic]) }),
	)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	pollCtx, stop := context.WithCancel(ctx)
	m.stop = stop
	go m.poll(pollCtx, out, commitBelow)
	return m, nil
}

// WaitBalanced waits on the members' own view of their assignment (the rebalance callbacks).
func (g groupClient) WaitBalanced(ctx context.Context, _, _ string, members []compat.GroupMember, partitions int) error {
	return compat.WaitAssigned(ctx, members, partitions)
}

// WaitCommitted polls the group's committed offsets.
func (g groupClient) WaitCommitted(ctx context.Context, group, topic string, partitions int, want int64) error {
	return withAdmin(g.e, func(adm *kadm.Client) error {
		err := compat.Poll(ctx, 300, func() error {
			offs, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return err
			}
			for p := 0; p < partitions; p++ {
				if o, found := offs.Lookup(topic, int32(p)); !found || o.Err != nil || o.At != want {
					return fmt.Errorf("%v", offs)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("commits never reached %d (%w)", want, err)
		}
		return nil
	})
}

// poll hands every record to out and then commits those below commitBelow, until ctx ends.
func (m *member) poll(ctx context.Context, out chan<- compat.GroupRecord, commitBelow int64) {
	defer close(m.done)
	for ctx.Err() == nil {
		fetches := m.cl.PollFetches(ctx)
		var commit []*kgo.Record
		for _, r := range fetches.Records() {
			select {
			case out <- compat.GroupRecord{Member: m.id, Partition: r.Partition, Offset: r.Offset}:
			case <-ctx.Done():
				return
			}
			if r.Offset < commitBelow {
				commit = append(commit, r)
			}
		}
		if len(commit) > 0 {
			if err := m.cl.CommitRecords(ctx, commit...); err != nil && ctx.Err() == nil {
				compat.Logf("member %d commit: %v", m.id, err)
			}
		}
	}
}

// Close stops polling and leaves the group.
func (m *member) Close() {
	m.stop()
	<-m.done
	m.cl.Close()
}

func produceToPartitions(ctx context.Context, e *compat.Env, topic string, partitions, perPartition int, tag string) error {
	recs := toKgo(topic, compat.PartitionRecords(partitions, perPartition, tag))
	return produceSync(ctx, e, recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

func (client) CommitAndResume(ctx context.Context, e *compat.Env) error {
	topic, group := e.Prefix+"-resume", e.Prefix+"-resume"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 10, "r"); err != nil {
		return err
	}
	groupOpts := []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	first, err := newClient(e, groupOpts...)
	if err != nil {
		return err
	}
	recs, err := pollN(ctx, first, 5)
	if err == nil {
		err = first.CommitRecords(ctx, recs[4]) // commits offset 5: the next record to read
	}
	first.Close()
	if err != nil {
		return err
	}
	second, err := newClient(e, groupOpts...)
	if err != nil {
		return err
	}
	defer second.Close()
	resumed, err := pollN(ctx, second, 1)
	if err != nil {
		return err
	}
	if resumed[0].Offset != 5 {
		return fmt.Errorf("new member resumed at offset %d, want the committed 5", resumed[0].Offset)
	}
	return nil
}

func (client) Groups(e *compat.Env) compat.GroupClient { return groupClient{e} }

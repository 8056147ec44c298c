package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupRecord is a record consumed by one member of a group.
type groupRecord struct {
	member int
	rec    *kgo.Record
}

// member is one consumer of a group that polls in its own goroutine and commits what it consumed.
type member struct {
	id       int
	cl       *kgo.Client
	mu       sync.Mutex
	assigned map[int32]bool
	stop     context.CancelFunc
	done     chan struct{}
}

func startMember(ctx context.Context, e *env, id int, group, topic string, out chan<- groupRecord) (*member, error) {
	m := &member{id: id, assigned: map[int32]bool{}, done: make(chan struct{})}
	update := func(parts map[string][]int32, add bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range parts[topic] {
			if add {
				m.assigned[p] = true
			} else {
				delete(m.assigned, p)
			}
		}
	}
	cl, err := newClient(e,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { update(p, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { update(p, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { update(p, false) }),
	)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	pollCtx, stop := context.WithCancel(ctx)
	m.stop = stop
	go m.poll(pollCtx, out)
	return m, nil
}

// poll hands every record to out and then commits it, until ctx ends.
func (m *member) poll(ctx context.Context, out chan<- groupRecord) {
	defer close(m.done)
	for ctx.Err() == nil {
		fetches := m.cl.PollFetches(ctx)
		recs := fetches.Records()
		for _, r := range recs {
			select {
			case out <- groupRecord{m.id, r}:
			case <-ctx.Done():
				return
			}
		}
		if len(recs) > 0 {
			if err := m.cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				logf("member %d commit: %v", m.id, err)
			}
		}
	}
}

// close stops polling and leaves the group.
func (m *member) close() {
	m.stop()
	<-m.done
	m.cl.Close()
}

func (m *member) partitions() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32]bool, len(m.assigned))
	for p := range m.assigned {
		out[p] = true
	}
	return out
}

// waitAssigned waits until the members own all n partitions between them, each at least one.
func waitAssigned(ctx context.Context, members []*member, n int) error {
	for attempt := 0; attempt < 600; attempt++ {
		union, ok := map[int32]bool{}, true
		for _, m := range members {
			ps := m.partitions()
			ok = ok && len(ps) > 0
			for p := range ps {
				union[p] = true
			}
		}
		if ok && len(union) == n {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("members never owned all %d partitions: %w", n, err)
		}
	}
	return fmt.Errorf("members never owned all %d partitions", n)
}

// collect reads n distinct records from in, failing on any record seen twice.
func collect(ctx context.Context, in <-chan groupRecord, n int, seen map[string]int) (map[int]int, error) {
	perMember := map[int]int{}
	for got := 0; got < n; got++ {
		select {
		case <-ctx.Done():
			return perMember, fmt.Errorf("consumed %d of %d records", got, n)
		case gr := <-in:
			id := fmt.Sprintf("%d@%d", gr.rec.Partition, gr.rec.Offset)
			if prev, dup := seen[id]; dup {
				return perMember, fmt.Errorf("record %s consumed twice (members %d and %d)", id, prev, gr.member)
			}
			seen[id] = gr.member
			perMember[gr.member]++
		}
	}
	return perMember, nil
}

func produceToPartitions(ctx context.Context, e *env, topic string, partitions, perPartition int, tag string) error {
	var recs []*kgo.Record
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i))})
		}
	}
	return produceSync(ctx, e, recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// waitCommitted waits until the group's committed offset of every partition is want.
func waitCommitted(ctx context.Context, e *env, group, topic string, partitions int, want int64) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		var last string
		for attempt := 0; attempt < 300; attempt++ {
			offs, err := adm.FetchOffsets(ctx, group)
			if err == nil {
				ok := true
				for p := 0; p < partitions; p++ {
					o, found := offs.Lookup(topic, int32(p))
					ok = ok && found && o.Err == nil && o.At == want
				}
				if ok {
					return nil
				}
				last = fmt.Sprintf("%v", offs)
			} else {
				last = err.Error()
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return fmt.Errorf("commits never reached %d (%s)", want, last)
			}
		}
		return fmt.Errorf("commits never reached %d (%s)", want, last)
	})
}

func scenarioConsumerGroup(ctx context.Context, e *env) error {
	topic, group := e.prefix+"-group", e.prefix+"-group"
	if err := createTopic(ctx, e, topic, 6, nil); err != nil {
		return err
	}
	records := make(chan groupRecord, 1000)
	var members []*member
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()
	for id := 0; id < 3; id++ {
		m, err := startMember(ctx, e, id, group, topic, records)
		if err != nil {
			return err
		}
		members = append(members, m)
	}
	if err := waitAssigned(ctx, members, 6); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 6, 100, "first"); err != nil {
		return err
	}
	seen := map[string]int{}
	perMember, err := collect(ctx, records, 600, seen)
	if err != nil {
		return err
	}
	if len(perMember) != 3 {
		return fmt.Errorf("only %d of 3 members consumed (%v)", len(perMember), perMember)
	}
	if err := waitCommitted(ctx, e, group, topic, 6, 100); err != nil {
		return err
	}
	leaving := members[2]
	members = members[:2]
	leaving.close()
	if err := waitAssigned(ctx, members, 6); err != nil {
		return fmt.Errorf("after one member left: %w", err)
	}
	if err := produceToPartitions(ctx, e, topic, 6, 10, "second"); err != nil {
		return err
	}
	perMember, err = collect(ctx, records, 60, seen)
	if err != nil {
		return fmt.Errorf("after one member left: %w", err)
	}
	if perMember[2] != 0 {
		return errors.New("the member that left still consumed")
	}
	return nil
}

func scenarioCommitAndResume(ctx context.Context, e *env) error {
	topic, group := e.prefix+"-resume", e.prefix+"-resume"
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

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// groupRecord is a message consumed by one member of a group.
type groupRecord struct {
	member int
	msg    *sarama.ConsumerMessage
}

// member is one consumer of a group: sarama's Consume loop in its own goroutine, handing each
// message to out and marking it for commit when its offset is below commitBelow.
type member struct {
	id          int
	topic       string
	group       sarama.ConsumerGroup
	out         chan<- groupRecord
	commitBelow int64
	mu          sync.Mutex
	assigned    map[int32]bool
	stop        context.CancelFunc
	done        chan struct{}
}

// Setup records the generation's assignment (sarama's default protocol is eager: the whole set).
func (m *member) Setup(sess sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
	for _, p := range sess.Claims()[m.topic] {
		m.assigned[p] = true
	}
	return nil
}

// Cleanup forgets the assignment at the end of a generation.
func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
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
			case m.out <- groupRecord{m.id, msg}:
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

func startMember(ctx context.Context, e *env, id int, group, topic string, out chan<- groupRecord, commitBelow int64) (*member, error) {
	cfg := newConfig()
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{e.bootstrap}, group, cfg)
	if err != nil {
		return nil, err
	}
	m := &member{id: id, topic: topic, group: g, out: out, commitBelow: commitBelow, assigned: map[int32]bool{}, done: make(chan struct{})}
	runCtx, stop := context.WithCancel(ctx)
	m.stop = stop
	go func() {
		defer close(m.done)
		// Consume returns at every rebalance; the context bounds the loop.
		for runCtx.Err() == nil {
			if err := g.Consume(runCtx, []string{topic}, m); err != nil && runCtx.Err() == nil {
				logf("member %d: %v", id, err)
				_ = sleepCtx(runCtx, 100*time.Millisecond)
			}
		}
	}()
	go func() {
		for err := range g.Errors() {
			logf("member %d: %v", id, err)
		}
	}()
	return m, nil
}

// close stops consuming and leaves the group.
func (m *member) close() {
	m.stop()
	<-m.done
	_ = m.group.Close()
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
			return fmt.Errorf("members never owned all %d partitions (owned: %s): %w", n, describeOwners(members), err)
		}
	}
	return fmt.Errorf("members never owned all %d partitions", n)
}

func describeOwners(members []*member) string {
	out := ""
	for _, m := range members {
		out += fmt.Sprintf(" member %d %v;", m.id, m.partitions())
	}
	return out
}

// collect reads n distinct records from in, failing on any record seen twice.
func collect(ctx context.Context, in <-chan groupRecord, n int, seen map[string]int) (map[int]int, error) {
	perMember := map[int]int{}
	for got := 0; got < n; got++ {
		select {
		case <-ctx.Done():
			return perMember, fmt.Errorf("consumed %d of %d records", got, n)
		case gr := <-in:
			id := fmt.Sprintf("%d@%d", gr.msg.Partition, gr.msg.Offset)
			if prev, dup := seen[id]; dup {
				return perMember, fmt.Errorf("record %s consumed twice (members %d and %d)", id, prev, gr.member)
			}
			seen[id] = gr.member
			perMember[gr.member]++
		}
	}
	return perMember, nil
}

func produceToPartitions(e *env, topic string, partitions, perPartition int, tag string) error {
	var msgs []*sarama.ProducerMessage
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(p), Value: sarama.StringEncoder(fmt.Sprintf("%s-%d-%d", tag, p, i))})
		}
	}
	return produceSync(e, msgs, func(c *sarama.Config) { c.Producer.Partitioner = sarama.NewManualPartitioner })
}

// waitCommitted waits until the group's committed offset of every partition is want.
func waitCommitted(ctx context.Context, e *env, group, topic string, partitions int, want int64) error {
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		var last string
		for attempt := 0; attempt < 300; attempt++ {
			resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
			if err == nil {
				ok := true
				last = ""
				for _, p := range ps {
					b := resp.GetBlock(topic, p)
					ok = ok && b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset == want
					if b != nil {
						last += fmt.Sprintf(" %d:%d", p, b.Offset)
					}
				}
				if ok {
					return nil
				}
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

const commitAll = int64(1) << 62

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
		m, err := startMember(ctx, e, id, group, topic, records, commitAll)
		if err != nil {
			return err
		}
		members = append(members, m)
	}
	if err := waitAssigned(ctx, members, 6); err != nil {
		return err
	}
	if err := produceToPartitions(e, topic, 6, 100, "first"); err != nil {
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
	if err := produceToPartitions(e, topic, 6, 10, "second"); err != nil {
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
	if err := produceToPartitions(e, topic, 1, 10, "r"); err != nil {
		return err
	}
	records := make(chan groupRecord, 100)
	first, err := startMember(ctx, e, 0, group, topic, records, 5) // commits offsets 0..4: resume at 5
	if err != nil {
		return err
	}
	_, err = collect(ctx, records, 5, map[string]int{})
	if err == nil {
		err = waitCommitted(ctx, e, group, topic, 1, 5)
	}
	first.close()
	if err != nil {
		return err
	}
	resumed := make(chan groupRecord, 100)
	second, err := startMember(ctx, e, 1, group, topic, resumed, 0)
	if err != nil {
		return err
	}
	defer second.close()
	select {
	case gr := <-resumed:
		if gr.msg.Offset != 5 {
			return fmt.Errorf("new member resumed at offset %d, want the committed 5", gr.msg.Offset)
		}
	case <-ctx.Done():
		return fmt.Errorf("new member consumed nothing: %w", ctx.Err())
	}
	return nil
}

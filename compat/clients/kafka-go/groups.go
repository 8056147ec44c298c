package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// groupRecord is a message consumed by one member of a group.
type groupRecord struct {
	member int
	msg    kafka.Message
}

// member is a Reader with a GroupID, fetching in its own goroutine, handing each message to out
// and committing it (synchronously) when its offset is below commitBelow.
type member struct {
	id   int
	r    *kafka.Reader
	stop context.CancelFunc
	done chan struct{}
}

const commitAll = int64(1) << 62

func startMember(ctx context.Context, e *env, id int, group, topic string, out chan<- groupRecord, commitBelow int64) *member {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{e.bootstrap},
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // CommitMessages commits synchronously
		HeartbeatInterval: time.Second,
		MaxWait:           200 * time.Millisecond,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { logf("member %d: "+f, append([]any{id}, a...)...) }),
	})
	runCtx, stop := context.WithCancel(ctx)
	m := &member{id: id, r: r, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for runCtx.Err() == nil {
			msg, err := r.FetchMessage(runCtx)
			if err != nil {
				if runCtx.Err() == nil {
					logf("member %d fetch: %v", id, err)
				}
				return
			}
			select {
			case out <- groupRecord{id, msg}:
			case <-runCtx.Done():
				return
			}
			if msg.Offset < commitBelow {
				if err := r.CommitMessages(runCtx, msg); err != nil && runCtx.Err() == nil {
					logf("member %d commit: %v", id, err)
				}
			}
		}
	}()
	return m
}

// close stops fetching and leaves the group.
func (m *member) close() {
	m.stop()
	<-m.done
	_ = m.r.Close()
}

// waitStable waits until the group is Stable with exactly members members that own all
// partitions of topic between them, each at least one (the Reader does not expose its assignment,
// so the coordinator's view is the one checked).
func waitStable(ctx context.Context, e *env, group, topic string, members, partitions int) error {
	var last string
	for attempt := 0; attempt < 600; attempt++ {
		resp, err := adminClient(e).DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			union, ok := map[int]bool{}, g.Error == nil && g.GroupState == "Stable" && len(g.Members) == members
			for _, m := range g.Members {
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
			if ok && len(union) == partitions {
				return nil
			}
			last = fmt.Sprintf("state %s, %d members, %d partitions owned", g.GroupState, len(g.Members), len(union))
		} else if err != nil {
			last = err.Error()
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("group never stable with %d members owning %d partitions (%s)", members, partitions, last)
		}
	}
	return fmt.Errorf("group never stable with %d members owning %d partitions (%s)", members, partitions, last)
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

func produceToPartitions(ctx context.Context, e *env, topic string, partitions, perPartition int, tag string) error {
	var msgs []kafka.Message
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			msgs = append(msgs, kafka.Message{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i))})
		}
	}
	return produceSync(ctx, e, msgs, func(w *kafka.Writer) { w.Balancer = manualPartition })
}

// waitCommitted waits until the group's committed offset of every partition is want.
func waitCommitted(ctx context.Context, e *env, group, topic string, partitions int, want int64) error {
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	var last string
	for attempt := 0; attempt < 300; attempt++ {
		resp, err := adminClient(e).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
		if err == nil {
			committed := 0
			last = ""
			for _, p := range resp.Topics[topic] {
				if p.Error == nil && p.CommittedOffset == want {
					committed++
				}
				last += fmt.Sprintf(" %d:%d", p.Partition, p.CommittedOffset)
			}
			if committed == partitions {
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
		members = append(members, startMember(ctx, e, id, group, topic, records, commitAll))
	}
	if err := waitStable(ctx, e, group, topic, 3, 6); err != nil {
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
	if err := waitStable(ctx, e, group, topic, 2, 6); err != nil {
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
	records := make(chan groupRecord, 100)
	first := startMember(ctx, e, 0, group, topic, records, 5) // commits offsets 0..4: resume at 5
	_, err := collect(ctx, records, 5, map[string]int{})
	if err == nil {
		err = waitCommitted(ctx, e, group, topic, 1, 5)
	}
	first.close()
	if err != nil {
		return err
	}
	resumed := make(chan groupRecord, 100)
	second := startMember(ctx, e, 1, group, topic, resumed, 0)
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

package compat

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// GroupRecord is a record consumed by one member of a group.
type GroupRecord struct {
	Member    int
	Partition int32
	Offset    int64
}

// CommitAll as a member's commitBelow commits every record it consumes.
const CommitAll = int64(1) << 62

// GroupMember is a running member of a consumer group.
type GroupMember interface {
	// Close stops consuming and leaves the group.
	Close()
}

// GroupClient is what the group scenarios need of one client library.
type GroupClient interface {
	CreateTopic(ctx context.Context, topic string, partitions int) error
	// ProduceToPartitions writes PartitionRecords to topic, each to its partition.
	ProduceToPartitions(ctx context.Context, topic string, partitions, perPartition int, tag string) error
	// StartMember joins group as member id, consuming topic from the start in its own goroutine:
	// it hands each record to out, then commits it if its offset is below commitBelow.
	StartMember(ctx context.Context, id int, group, topic string, out chan<- GroupRecord, commitBelow int64) (GroupMember, error)
	// WaitBalanced waits until members, the whole group, own all partitions of topic between
	// them, each at least one.
	WaitBalanced(ctx context.Context, group, topic string, members []GroupMember, partitions int) error
	// WaitCommitted waits until the group's committed offset of every partition is want.
	WaitCommitted(ctx context.Context, group, topic string, partitions int, want int64) error
}

// Collect reads n distinct records from in, failing on any record seen twice (seen maps each
// record already read to its member, across calls); it returns how many each member read.
func Collect(ctx context.Context, in <-chan GroupRecord, n int, seen map[string]int) (map[int]int, error) {
	perMember := map[int]int{}
	for got := 0; got < n; got++ {
		select {
		case <-ctx.Done():
			return perMember, fmt.Errorf("consumed %d of %d records", got, n)
		case gr := <-in:
			id := fmt.Sprintf("%d@%d", gr.Partition, gr.Offset)
			if prev, dup := seen[id]; dup {
				return perMember, fmt.Errorf("record %s consumed twice (members %d and %d)", id, prev, gr.Member)
			}
			seen[id] = gr.Member
			perMember[gr.Member]++
		}
	}
	return perMember, nil
}

// groupPartitions is the partition count of consumer_group's topic, shared by three members.
const groupPartitions = 6

// ConsumerGroup is the consumer_group scenario: three members share six partitions, each record
// consumed once and committed; after one member leaves, the other two own all six and the one
// that left consumes nothing more.
func ConsumerGroup(ctx context.Context, e *Env, gc GroupClient) error {
	topic, group := e.Prefix+"-group", e.Prefix+"-group"
	if err := gc.CreateTopic(ctx, topic, groupPartitions); err != nil {
		return err
	}
	records := make(chan GroupRecord, 1000)
	var members []GroupMember
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	for id := 0; id < 3; id++ {
		m, err := gc.StartMember(ctx, id, group, topic, records, CommitAll)
		if err != nil {
			return err
		}
		members = append(members, m)
	}
	if err := gc.WaitBalanced(ctx, group, topic, members, groupPartitions); err != nil {
		return err
	}
	if err := gc.ProduceToPartitions(ctx, topic, groupPartitions, 100, "first"); err != nil {
		return err
	}
	seen := map[string]int{}
	perMember, err := Collect(ctx, records, groupPartitions*100, seen)
	if err != nil {
		return err
	}
	if len(perMember) != 3 {
		return fmt.Errorf("only %d of 3 members consumed (%v)", len(perMember), perMember)
	}
	if err := gc.WaitCommitted(ctx, group, topic, groupPartitions, 100); err != nil {
		return err
	}
	leaving := members[2]
	members = members[:2]
	leaving.Close()
	if err := gc.WaitBalanced(ctx, group, topic, members, groupPartitions); err != nil {
		return fmt.Errorf("after one member left: %w", err)
	}
	if err := gc.ProduceToPartitions(ctx, topic, groupPartitions, 10, "second"); err != nil {
		return err
	}
	perMember, err = Collect(ctx, records, groupPartitions*10, seen)
	if err != nil {
		return fmt.Errorf("after one member left: %w", err)
	}
	if perMember[2] != 0 {
		return errors.New("the member that left still consumed")
	}
	return nil
}

// CommitAndResume is the commit_and_resume scenario for libraries whose members commit what
// they consume: a member commits offsets 0..4 of ten and leaves; a new member resumes at 5.
func CommitAndResume(ctx context.Context, e *Env, gc GroupClient) error {
	topic, group := e.Prefix+"-resume", e.Prefix+"-resume"
	if err := gc.CreateTopic(ctx, topic, 1); err != nil {
		return err
	}
	if err := gc.ProduceToPartitions(ctx, topic, 1, 10, "r"); err != nil {
		return err
	}
	records := make(chan GroupRecord, 100)
	first, err := gc.StartMember(ctx, 0, group, topic, records, 5) // commits offsets 0..4: resume at 5
	if err != nil {
		return err
	}
	_, err = Collect(ctx, records, 5, map[string]int{})
	if err == nil {
		err = gc.WaitCommitted(ctx, group, topic, 1, 5)
	}
	first.Close()
	if err != nil {
		return err
	}
	resumed := make(chan GroupRecord, 100)
	second, err := gc.StartMember(ctx, 1, group, topic, resumed, 0)
	if err != nil {
		return err
	}
	defer second.Close()
	select {
	case gr := <-resumed:
		if gr.Offset != 5 {
			return fmt.Errorf("new member resumed at offset %d, want the committed 5", gr.Offset)
		}
	case <-ctx.Done():
		return fmt.Errorf("new member consumed nothing: %w", ctx.Err())
	}
	return nil
}

// LeaveEmptyGroup prepares admin_groups: one record in topic, consumed and committed by one
// member that then leaves, so the group stays with its committed offset and no member: Empty.
func LeaveEmptyGroup(ctx context.Context, gc GroupClient, group, topic string) error {
	if err := gc.CreateTopic(ctx, topic, 1); err != nil {
		return err
	}
	if err := gc.ProduceToPartitions(ctx, topic, 1, 1, "g"); err != nil {
		return err
	}
	records := make(chan GroupRecord, 10)
	m, err := gc.StartMember(ctx, 0, group, topic, records, CommitAll)
	if err != nil {
		return err
	}
	_, err = Collect(ctx, records, 1, map[string]int{})
	if err == nil {
		err = gc.WaitCommitted(ctx, group, topic, 1, 1)
	}
	m.Close()
	return err
}

// Assignment is the partitions a member owns, as its library's rebalance callbacks report them.
type Assignment struct {
	mu    sync.Mutex
	owned map[int32]bool
}

// Add records partitions assigned to the member.
func (a *Assignment) Add(partitions []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.owned == nil {
		a.owned = map[int32]bool{}
	}
	for _, p := range partitions {
		a.owned[p] = true
	}
}

// Remove records partitions revoked from (or lost by) the member.
func (a *Assignment) Remove(partitions []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range partitions {
		delete(a.owned, p)
	}
}

// Clear records the end of a generation: the member owns nothing until the next assignment.
func (a *Assignment) Clear() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.owned = nil
}

// Partitions is a snapshot of what the member owns.
func (a *Assignment) Partitions() map[int32]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[int32]bool, len(a.owned))
	for p := range a.owned {
		out[p] = true
	}
	return out
}

// assignmentAttempts bounds WaitAssigned: a minute of polls, longer than any rebalance here.
const assignmentAttempts = 600

// Owner is a member that tracks its own assignment, as one that embeds an Assignment does.
type Owner interface {
	Partitions() map[int32]bool
}

// WaitAssigned waits until the members, each an Owner, own all n partitions between them, each
// member at least one.
func WaitAssigned(ctx context.Context, members []GroupMember, n int) error {
	owners := make([]Owner, len(members))
	for i, m := range members {
		o, ok := m.(Owner)
		if !ok {
			return fmt.Errorf("member %d does not track its assignment", i)
		}
		owners[i] = o
	}
	err := Poll(ctx, assignmentAttempts, func() error {
		union, ok := map[int32]bool{}, true
		for _, o := range owners {
			ps := o.Partitions()
			ok = ok && len(ps) > 0
			for p := range ps {
				union[p] = true
			}
		}
		if ok && len(union) == n {
			return nil
		}
		return fmt.Errorf("owned:%s", describeOwners(owners))
	})
	if err != nil {
		return fmt.Errorf("members never owned all %d partitions (%w)", n, err)
	}
	return nil
}

func describeOwners(owners []Owner) string {
	var b strings.Builder
	for id, o := range owners {
		var ps []int
		for p := range o.Partitions() {
			ps = append(ps, int(p))
		}
		sort.Ints(ps)
		fmt.Fprintf(&b, " member %d %v;", id, ps)
	}
	return b.String()
}

package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

// newClient connects to the broker with the given extra options.
func newClient(e *compat.Env, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(e.Brokers()...), kgo.ClientID("compat-franz-go")}
	return kgo.NewClient(append(base, opts...)...)
}

// withAdmin runs f with an admin client that is closed afterwards.
func withAdmin(e *compat.Env, f func(adm *kadm.Client) error) error {
	cl, err := newClient(e)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(kadm.NewClient(cl))
}

// createTopic creates a topic with replication factor 1 and waits until every partition has a leader.
func createTopic(ctx context.Context, e *compat.Env, topic string, partitions int32, configs map[string]*string) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
		if err != nil {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
		if resp.Err != nil {
			return fmt.Errorf("create topic %s: %w", topic, resp.Err)
		}
		if err := waitForLeaders(ctx, adm, topic, int(partitions)); err != nil {
			return err
		}
		return compat.WaitTopicEverywhere(ctx, e, topic, int(partitions))
	})
}

// waitForLeaders polls metadata until topic has the partition count with a leader each.
func waitForLeaders(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	err := compat.Poll(ctx, 100, func() error {
		details, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		d := details[topic]
		ready := d.Err == nil && len(d.Partitions) == partitions
		for _, p := range d.Partitions {
			ready = ready && p.Err == nil && p.Leader >= 0
		}
		if !ready {
			return fmt.Errorf("topic error %v, %d partitions", d.Err, len(d.Partitions))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("topic %s not ready: %w", topic, err)
	}
	return nil
}

// toKgo is recs as franz-go records of topic.
func toKgo(topic string, recs []compat.Record) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		out[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Partition: r.Partition, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// fromKgo is what the checks need of franz-go records (consumed, or produced and acknowledged).
func fromKgo(recs []*kgo.Record) []compat.Record {
	out := make([]compat.Record, len(recs))
	for i, r := range recs {
		out[i] = compat.Record{Key: r.Key, Value: r.Value, Partition: r.Partition, Offset: r.Offset}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, compat.Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// produceSync produces records (all acknowledged) with a producer built from opts.
func produceSync(ctx context.Context, e *compat.Env, recs []*kgo.Record, opts ...kgo.Opt) error {
	cl, err := newClient(e, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// consumeN reads n records of topic from the start (no group), failing on fetch errors or timeout.
func consumeN(ctx context.Context, e *compat.Env, topic string, n int, opts ...kgo.Opt) ([]*kgo.Record, error) {
	base := []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(8 << 20),
		kgo.FetchMaxPartitionBytes(4 << 20),
	}
	cl, err := newClient(e, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return pollN(ctx, cl, n)
}

// pollN polls cl until it has n records; the context bounds the loop.
func pollN(ctx context.Context, cl *kgo.Client, n int) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return recs, fmt.Errorf("consumed %d of %d records: %w", len(recs), n, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
		})
		if ferr != nil {
			return recs, ferr
		}
		recs = append(recs, fetches.Records()...)
	}
	return recs, nil
}

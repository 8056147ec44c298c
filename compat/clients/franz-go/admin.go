package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"vltava.dev/compat"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(ctx context.Context, adm *kadm.Client, topic, key string) (string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return "", err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return "", err
	}
	if rc.Err != nil {
		return "", rc.Err
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), nil
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig waits until the topic's key reads want (see compat.WaitConfig).
func waitConfig(ctx context.Context, adm *kadm.Client, topic, key, want string) error {
	return compat.WaitConfig(ctx, key, want, func() (string, error) { return topicConfig(ctx, adm, topic, key) })
}

func (client) AdminTopics(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-topics"
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": compat.StrPtr("3600000")}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := waitForLeaders(ctx, adm, topic, 2); err != nil {
			return err
		}
		if err := compat.WaitTopicEverywhere(ctx, e, topic, 2); err != nil {
			return err
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", "3600000"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		listed, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		if !listed.Has(topic) {
			return fmt.Errorf("list does not show %s", topic)
		}
		grown, err := adm.UpdatePartitions(ctx, 4, topic)
		if err == nil {
			_, err = grown.On(topic, nil)
		}
		if err == nil {
			err = grown[topic].Err
		}
		if err != nil {
			return fmt.Errorf("create partitions: %w", err)
		}
		if err := waitForLeaders(ctx, adm, topic, 4); err != nil {
			return fmt.Errorf("after create partitions: %w", err)
		}
		deleted, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = deleted.Err
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return waitTopicGone(ctx, adm, topic)
	})
}

func waitTopicGone(ctx context.Context, adm *kadm.Client, topic string) error {
	return compat.Poll(ctx, 100, func() error {
		listed, err := adm.ListTopics(ctx)
		if err == nil && listed.Has(topic) {
			err = fmt.Errorf("deleted topic %s still listed", topic)
		}
		return err
	})
}

func (client) AdminConfigs(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		if _, err := topicConfig(ctx, adm, topic, "retention.ms"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		// AlterTopicConfigs is the incremental API (IncrementalAlterConfigs).
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: compat.StrPtr("123456789")}}, topic)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			return fmt.Errorf("alter: %w", err)
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", "123456789"); err != nil {
			return fmt.Errorf("after alter: %w", err)
		}
		return nil
	})
}

func (client) AdminGroups(ctx context.Context, e *compat.Env) error {
	topic, group := e.Prefix+"-admin-groups", e.Prefix+"-admin-groups"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 1, "g"); err != nil {
		return err
	}
	cl, err := newClient(e, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	recs, err := pollN(ctx, cl, 1)
	if err == nil {
		err = cl.CommitRecords(ctx, recs...)
	}
	cl.Close() // leaves the group, which stays with its committed offset and no member: Empty
	if err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if _, ok := listed[group]; !ok {
			return fmt.Errorf("list does not show group %s", group)
		}
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		d := described[group]
		if d.Err != nil || d.State != "Empty" || len(d.Members) != 0 {
			return fmt.Errorf("describe: state %q with %d members (%v), want Empty", d.State, len(d.Members), d.Err)
		}
		deleted, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = deleted.Err
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		listed, err = adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if _, ok := listed[group]; ok {
			return fmt.Errorf("deleted group %s still listed", group)
		}
		return nil
	})
}

func (client) AdminDeleteRecords(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-delete-records"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 10, "d"); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
		resps, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			return err
		}
		r, ok := resps.Lookup(topic, 0)
		if !ok || r.Err != nil || r.LowWatermark != 4 {
			return fmt.Errorf("delete records: low watermark %d (%v), want 4", r.LowWatermark, r.Err)
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return err
		}
		s, _ := starts.Lookup(topic, 0)
		if s.Err != nil || s.Offset != 4 {
			return fmt.Errorf("start offset after delete is %d (%v), want 4", s.Offset, s.Err)
		}
		return nil
	})
}

func (client) ErrorUnknownTopic(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-missing"
	err := withAdmin(e, func(adm *kadm.Client) error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		return compat.WantError(md.Topics[topic].Err, kerr.UnknownTopicOrPartition, "metadata for a missing topic", compat.UnknownTopicOrPartition)
	})
	if err != nil {
		return err
	}
	err = produceSync(ctx, e, []*kgo.Record{{Topic: topic, Value: []byte("x")}}, kgo.UnknownTopicRetries(2))
	return compat.WantError(err, kerr.UnknownTopicOrPartition, "produce to a missing topic", compat.UnknownTopicOrPartition)
}

func (client) ErrorRecordTooLarge(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": compat.StrPtr("1024")}); err != nil {
		return err
	}
	// Uncompressed, since franz-go compresses with snappy by default and zeros would shrink.
	err := produceSync(ctx, e, []*kgo.Record{{Topic: topic, Value: make([]byte, 4096)}},
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	return compat.WantError(err, kerr.MessageTooLarge, "produce over max.message.bytes", compat.MessageTooLarge)
}

func (client) ErrorInvalidTopicName(ctx context.Context, e *compat.Env) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, "bad name!")
		if err == nil {
			err = resp.Err
		}
		return compat.WantError(err, kerr.InvalidTopicException, "create 'bad name!'", compat.InvalidTopicException)
	})
}

func (client) ErrorTopicExists(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		return compat.WantError(err, kerr.TopicAlreadyExists, "create an existing topic", compat.TopicAlreadyExists)
	})
}

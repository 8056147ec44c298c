package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(adm sarama.ClusterAdmin, topic, key string) (string, error) {
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return "", err
	}
	for _, c := range entries {
		if c.Name == key {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig waits until the topic's key reads want (see compat.WaitConfig).
func waitConfig(ctx context.Context, adm sarama.ClusterAdmin, topic, key, want string) error {
	return compat.WaitConfig(ctx, key, want, func() (string, error) { return topicConfig(adm, topic, key) })
}

func (client) AdminTopics(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-topics"
	if err := createTopic(ctx, e, topic, 2, map[string]*string{"retention.ms": compat.StrPtr("3600000")}); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if err := waitConfig(ctx, adm, topic, "retention.ms", "3600000"); err != nil {
			return fmt.Errorf("describe config: %w", err)
		}
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return err
		}
		if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrNoError) || len(md[0].Partitions) != 2 {
			return fmt.Errorf("describe topic: %+v", md)
		}
		if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
			return fmt.Errorf("create partitions: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := waitForLeaders(ctx, e, topic, 4); err != nil {
		return fmt.Errorf("after create partitions: %w", err)
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if err := adm.DeleteTopic(topic); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return compat.Poll(ctx, 100, func() error {
			topics, err := adm.ListTopics()
			if err != nil {
				return err
			}
			if _, still := topics[topic]; still {
				return fmt.Errorf("deleted topic %s still listed", topic)
			}
			return nil
		})
	})
}

func (client) AdminConfigs(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if _, err := topicConfig(adm, topic, "retention.ms"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		value := "123456789"
		entries := map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
		}
		if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, entries, false); err != nil {
			return fmt.Errorf("incremental alter: %w", err)
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", value); err != nil {
			return fmt.Errorf("after alter: %w", err)
		}
		return nil
	})
}

func (client) AdminGroups(ctx context.Context, e *compat.Env) error {
	topic, group := e.Prefix+"-admin-groups", e.Prefix+"-admin-groups"
	if err := compat.LeaveEmptyGroup(ctx, groupClient{e}, group, topic); err != nil {
		return err
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		groups, err := adm.ListConsumerGroups()
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if _, ok := groups[group]; !ok {
			return fmt.Errorf("list does not show group %s", group)
		}
		described, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		if len(described) != 1 || described[0].State != "Empty" || len(described[0].Members) != 0 {
			return fmt.Errorf("describe: %+v, want one Empty group", described)
		}
		if err := adm.DeleteConsumerGroup(group); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		groups, err = adm.ListConsumerGroups()
		if err != nil {
			return err
		}
		if _, ok := groups[group]; ok {
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
	if err := produceToPartitions(e, topic, 1, 10, "d"); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.DeleteRecords(topic, map[int32]int64{0: 4})
	})
	if err != nil {
		return fmt.Errorf("delete records: %w", err)
	}
	return withClient(e, func(cl sarama.Client) error {
		start, err := cl.GetOffset(topic, 0, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		if start != 4 {
			return fmt.Errorf("start offset after delete is %d, want 4", start)
		}
		return nil
	})
}

func (client) ErrorUnknownTopic(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-missing"
	err := withClient(e, func(cl sarama.Client) error {
		_, err := cl.Partitions(topic)
		return err
	})
	if err := compat.WantError(err, sarama.ErrUnknownTopicOrPartition, "metadata for a missing topic", compat.UnknownTopicOrPartition); err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")}
	err = produceSync(e, []*sarama.ProducerMessage{msg}, func(c *sarama.Config) { c.Producer.Retry.Max = 1 })
	return compat.WantError(err, sarama.ErrUnknownTopicOrPartition, "produce to a missing topic", compat.UnknownTopicOrPartition)
}

func (client) ErrorRecordTooLarge(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": compat.StrPtr("1024")}); err != nil {
		return err
	}
	// Under sarama's own Producer.MaxMessageBytes, so the broker is the one to refuse it.
	msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(make([]byte, 4096))}
	err := produceSync(e, []*sarama.ProducerMessage{msg}, nil)
	return compat.WantError(err, sarama.ErrMessageSizeTooLarge, "produce over max.message.bytes", compat.MessageTooLarge)
}

func (client) ErrorInvalidTopicName(ctx context.Context, e *compat.Env) error {
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.CreateTopic(compat.InvalidTopicName, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	})
	return compat.WantError(err, sarama.ErrInvalidTopic, "create 'bad name!'", compat.InvalidTopicException)
}

func (client) ErrorTopicExists(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	})
	return compat.WantError(err, sarama.ErrTopicAlreadyExists, "create an existing topic", compat.TopicAlreadyExists)
}

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
	"vltava.dev/compat"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(ctx context.Context, e *compat.Env, topic, key string) (string, error) {
	resp, err := adminClient(e).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
	})
	if err != nil {
		return "", err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", r.Error
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigName == key {
				return c.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig waits until the topic's key reads want (see compat.WaitConfig).
func waitConfig(ctx context.Context, e *compat.Env, topic, key, want string) error {
	return compat.WaitConfig(ctx, key, want, func() (string, error) { return topicConfig(ctx, e, topic, key) })
}

func (client) AdminTopics(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-topics"
	if err := createTopic(ctx, e, topic, 2, map[string]string{"retention.ms": "3600000"}); err != nil {
		return err
	}
	if err := waitConfig(ctx, e, topic, "retention.ms", "3600000"); err != nil {
		return fmt.Errorf("describe config: %w", err)
	}
	cl := adminClient(e)
	grown, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}}})
	if err == nil {
		err = grown.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	if err := waitForLeaders(ctx, e, topic, 4); err != nil {
		return fmt.Errorf("after create partitions: %w", err)
	}
	deleted, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = deleted.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return compat.Poll(ctx, 100, func() error {
		t, err := topicMetadata(ctx, e, topic)
		if err == nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			err = fmt.Errorf("deleted topic %s still in metadata", topic)
		}
		return err
	})
}

func (client) AdminConfigs(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if _, err := topicConfig(ctx, e, topic, "retention.ms"); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	resp, err := adminClient(e).IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "123456789", ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err == nil {
		for _, r := range resp.Resources {
			if r.Error != nil {
				err = r.Error
			}
		}
	}
	if err != nil {
		return fmt.Errorf("incremental alter: %w", err)
	}
	if err := waitConfig(ctx, e, topic, "retention.ms", "123456789"); err != nil {
		return fmt.Errorf("after alter: %w", err)
	}
	return nil
}

func listedGroup(ctx context.Context, e *compat.Env, group string) (bool, error) {
	resp, err := adminClient(e).ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return false, err
	}
	if resp.Error != nil {
		return false, resp.Error
	}
	for _, g := range resp.Groups {
		if g.GroupID == group {
			return true, nil
		}
	}
	return false, nil
}

func (client) AdminGroups(ctx context.Context, e *compat.Env) error {
	topic, group := e.Prefix+"-admin-groups", e.Prefix+"-admin-groups"
	if err := compat.LeaveEmptyGroup(ctx, groupClient{e}, group, topic); err != nil {
		return err
	}
	if found, err := listedGroup(ctx, e, group); err != nil || !found {
		return fmt.Errorf("list does not show group %s (%v)", group, err)
	}
	cl := adminClient(e)
	described, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if len(described.Groups) != 1 || described.Groups[0].Error != nil || described.Groups[0].GroupState != "Empty" || len(described.Groups[0].Members) != 0 {
		return fmt.Errorf("describe: %+v, want one Empty group", described.Groups)
	}
	deleted, err := cl.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err == nil {
		err = deleted.Errors[group]
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if found, err := listedGroup(ctx, e, group); err != nil || found {
		return fmt.Errorf("deleted group %s still listed (%v)", group, err)
	}
	return nil
}

func (client) ErrorUnknownTopic(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-missing"
	t, err := topicMetadata(ctx, e, topic)
	if err != nil {
		return err
	}
	if err := compat.WantError(t.Error, kafka.UnknownTopicOrPartition, "metadata for a missing topic", compat.UnknownTopicOrPartition); err != nil {
		return err
	}
	err = produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: []byte("x")}}, func(w *kafka.Writer) { w.MaxAttempts = 2 })
	return compat.WantError(err, kafka.UnknownTopicOrPartition, "produce to a missing topic", compat.UnknownTopicOrPartition)
}

func (client) ErrorRecordTooLarge(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]string{"max.message.bytes": "1024"}); err != nil {
		return err
	}
	// Under the writer's own BatchBytes limit, so the broker is the one to refuse it.
	err := produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: make([]byte, 4096)}}, nil)
	return compat.WantError(err, kafka.MessageSizeTooLarge, "produce over max.message.bytes", compat.MessageTooLarge)
}

func (client) ErrorInvalidTopicName(ctx context.Context, e *compat.Env) error {
	err := createTopicOnce(ctx, e, compat.InvalidTopicName, 1, nil)
	return compat.WantError(err, kafka.InvalidTopic, "create 'bad name!'", compat.InvalidTopicException)
}

func (client) ErrorTopicExists(ctx context.Context, e *compat.Env) error {
	topic := e.Prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	err := createTopicOnce(ctx, e, topic, 1, nil)
	return compat.WantError(err, kafka.TopicAlreadyExists, "create an existing topic", compat.TopicAlreadyExists)
}

func (client) AdminDeleteRecords(context.Context, *compat.Env) error {
	return compat.Skip("kafka-go has no DeleteRecords API")
}

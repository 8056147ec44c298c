package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.ADMIN_TIMEOUT_S;
import static dev.vltava.compat.Clients.bytes;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;

/** AdminClient scenarios: topics, configs, groups, delete-records. */
final class AdminScenarios {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private AdminScenarios() {}

    static Result topics(Context ctx) throws Exception {
        String topic = ctx.name("admin-topic");
        try (Admin admin = Clients.admin(ctx)) {
            Clients.createTopic(admin, topic, 2, Map.of("retention.ms", "3600000"));
            check(names(admin).contains(topic), "listTopics lacks the created topic");
            check(partitionCount(admin, topic) == 2, "describeTopics: " + partitionCount(admin, topic) + " partitions, want 2");
            String retention = topicConfig(admin, topic).get("retention.ms").value();
            check("3600000".equals(retention), "the creation config retention.ms reads back as " + retention);

            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
            await("describeTopics shows 4 partitions after the grow", () -> partitionCount(admin, topic) == 4);

            admin.deleteTopics(List.of(topic)).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
            await("the deleted topic leaves listTopics", () -> !names(admin).contains(topic));
        }
        return Result.pass("created with retention.ms, listed, described (2 partitions), grown to 4, deleted");
    }

    static Result configs(Context ctx) throws Exception {
        String topic = ctx.name("admin-configs");
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        String initialValue;
        try (Admin admin = Clients.admin(ctx)) {
            Clients.createTopic(admin, topic, 1, Map.of());
            ConfigEntry initial = topicConfig(admin, topic).get("retention.ms");
            check(initial != null && initial.source() == ConfigEntry.ConfigSource.DEFAULT_CONFIG
                    || initial != null && initial.source() == ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG,
                    "a new topic's retention.ms is " + initial + ", want a default");
            initialValue = initial.value();
            alter(admin, resource, new AlterConfigOp(new ConfigEntry("retention.ms", "86400000"), AlterConfigOp.OpType.SET));
            await("retention.ms reads back as 86400000 (a topic config)", () -> {
                ConfigEntry e = topicConfig(admin, topic).get("retention.ms");
                return "86400000".equals(e.value()) && e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG;
            });
            alter(admin, resource, new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE));
            await("retention.ms back to the default " + initial.value() + " after DELETE",
                    () -> initial.value().equals(topicConfig(admin, topic).get("retention.ms").value()));
        }
        return Result.pass("retention.ms " + initialValue + " (default) described, SET to 86400000 (incremental),"
                + " DELETE restored the default");
    }

    private static void alter(Admin admin, ConfigResource resource, AlterConfigOp op) throws Exception {
        Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(resource, List.of(op));
        admin.incrementalAlterConfigs(ops).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
    }

    static Result groups(Context ctx) throws Exception {
        String topic = ctx.name("admin-groups");
        String group = ctx.name("admin-groups-g");
        Clients.createTopic(ctx, topic, 2, Map.of());
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            producer.send(new ProducerRecord<>(topic, 0, bytes("k"), bytes("v"))).get(30, TimeUnit.SECONDS);
        }
        try (Admin admin = Clients.admin(ctx)) {
            try (KafkaConsumer<byte[], byte[]> member = Clients.member(ctx, group)) {
                member.subscribe(List.of(topic));
                ConsumerRecord<byte[], byte[]> r = Clients.firstRecord(member, WAIT);
                member.commitSync(Map.of(new TopicPartition(topic, r.partition()),
                        new org.apache.kafka.clients.consumer.OffsetAndMetadata(r.offset() + 1)));
                check(listed(admin, group) != null, "listGroups lacks the active group");
                ConsumerGroupDescription d = describe(admin, group);
                check(d.groupState() == GroupState.STABLE && d.members().size() == 1,
                        "describe: state " + d.groupState() + " with " + d.members().size() + " members, want STABLE with 1");
                var assigned = d.members().iterator().next().assignment().topicPartitions();
                check(assigned.equals(Set.copyOf(Clients.partitions(topic, 2))),
                        "describe: the member is assigned " + assigned + ", want both partitions");
            }
            await("the group is EMPTY after its member closed", () -> describe(admin, group).groupState() == GroupState.EMPTY);
            admin.deleteConsumerGroups(List.of(group)).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
            await("the deleted group leaves listGroups", () -> listed(admin, group) == null);
        }
        return Result.pass("listed, described (STABLE, 1 member, 2 partitions), EMPTY after close, deleted");
    }

    private static GroupListing listed(Admin admin, String group) throws Exception {
        for (GroupListing g : admin.listGroups().all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS)) {
            if (g.groupId().equals(group)) {
                return g;
            }
        }
        return null;
    }

    private static ConsumerGroupDescription describe(Admin admin, String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS).get(group);
    }

    static Result deleteRecords(Context ctx) throws Exception {
        String topic = ctx.name("delete-records");
        TopicPartition tp = new TopicPartition(topic, 0);
        Clients.createTopic(ctx, topic, 1, Map.of());
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, 0, bytes("k" + i), bytes("v" + i))).get(30, TimeUnit.SECONDS);
            }
        }
        try (Admin admin = Clients.admin(ctx)) {
            long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(5))).lowWatermarks().get(tp)
                    .get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS).lowWatermark();
            check(low == 5, "deleteRecords answered low watermark " + low + ", want 5");
            long earliest = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp)
                    .get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS).offset();
            check(earliest == 5, "listOffsets(earliest) = " + earliest + " after the delete, want 5");
        }
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(ctx)) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            ConsumerRecord<byte[], byte[]> r = Clients.firstRecord(consumer, WAIT);
            check(r.offset() == 5, "reading from the beginning starts at offset " + r.offset() + ", want 5");
        }
        return Result.pass("deleteRecords(before 5): low watermark 5, earliest offset 5, reads start at 5");
    }

    private static Set<String> names(Admin admin) throws Exception {
        return admin.listTopics().names().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static int partitionCount(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic)).allTopicNames().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS)
                .get(topic).partitions().size();
    }

    private static Map<String, ConfigEntry> topicConfig(Admin admin, String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(resource)).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS).get(resource);
        Map<String, ConfigEntry> out = new java.util.HashMap<>();
        config.entries().forEach(e -> out.put(e.name(), e));
        return out;
    }

    /** Metadata in Kafka propagates after the admin call returns: re-read until it shows, bounded. */
    @FunctionalInterface
    interface Probe {
        boolean holds() throws Exception;
    }

    private static void await(String what, Probe probe) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!probe.holds()) {
            check(System.nanoTime() < deadline, "not within " + WAIT.toSeconds() + " s: " + what);
            Thread.sleep(100);
        }
    }
}

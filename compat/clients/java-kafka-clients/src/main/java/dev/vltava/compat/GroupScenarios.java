package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.bytes;
import static dev.vltava.compat.Clients.str;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/** Consumer-group scenarios: sharing partitions, rebalancing when a member leaves, resuming. */
final class GroupScenarios {
    private static final int PARTITIONS = 6;
    private static final Duration WAIT = Duration.ofSeconds(20);

    private GroupScenarios() {}

    static Result consumerGroup(Context ctx) throws Exception {
        String topic = ctx.name("group");
        String group = ctx.name("group-g");
        Clients.createTopic(ctx, topic, PARTITIONS, Map.of());
        ConcurrentHashMap<String, Integer> deliveries = new ConcurrentHashMap<>();
        List<GroupMember> members = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                members.add(new GroupMember(ctx, group, topic, ctx.name("member-" + i), deliveries));
            }
            // Records go in once the three share the partitions, so that no rebalance can replay them.
            await("three members own the 6 partitions between them", members, () -> ownAll(members));
            produce(ctx, topic, 0, 600);
            await("600 records consumed", members, () -> deliveries.size() >= 600);
            check(deliveries.size() == 600 && once(deliveries), "first 600 records: " + deliveries.size()
                    + " distinct deliveries, duplicates " + duplicates(deliveries));
            String split = splitOf(members);

            members.remove(2).leave();
            await("two remaining members own the 6 partitions", members, () -> ownAll(members));
            produce(ctx, topic, 600, 60);
            await("60 new records consumed", members, () -> deliveries.size() >= 660);
            check(deliveries.size() == 660 && once(deliveries), "after the leave: " + deliveries.size()
                    + " distinct deliveries of 660, duplicates " + duplicates(deliveries));
            return Result.pass("600 records exactly once over 3 members " + split + "; after one left, 2 members "
                    + splitOf(members) + " consumed 60 more exactly once");
        } finally {
            for (GroupMember m : members) {
                m.leave();
            }
        }
    }

    private static boolean ownAll(List<GroupMember> members) {
        Set<TopicPartition> union = new HashSet<>();
        int total = 0;
        for (GroupMember m : members) {
            Set<TopicPartition> a = m.assignment();
            if (a.isEmpty()) {
                return false;
            }
            union.addAll(a);
            total += a.size();
        }
        return union.size() == PARTITIONS && total == PARTITIONS;
    }

    private static String splitOf(List<GroupMember> members) {
        List<Integer> sizes = new ArrayList<>();
        members.forEach(m -> sizes.add(m.assignment().size()));
        return "(partitions " + sizes + ")";
    }

    private static boolean once(Map<String, Integer> deliveries) {
        return deliveries.values().stream().allMatch(n -> n == 1);
    }

    private static List<String> duplicates(Map<String, Integer> deliveries) {
        List<String> out = new ArrayList<>();
        deliveries.forEach((k, n) -> {
            if (n > 1) {
                out.add(k + "x" + n);
            }
        });
        return out;
    }

    /** Waits for {@code done}, failing early when a member's loop has died. */
    private static void await(String what, List<GroupMember> members, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            for (GroupMember m : members) {
                if (m.error() != null) {
                    throw new CheckFailed("waiting for " + what + ": a member failed: " + Errors.describe(m.error()));
                }
            }
            check(System.nanoTime() < deadline, "not within " + WAIT.toSeconds() + " s: " + what
                    + "; assignments " + splitOf(members));
            Thread.sleep(50);
        }
    }

    private static void produce(Context ctx, String topic, int from, int count) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = from; i < from + count; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, bytes("k" + i), bytes("v" + i))));
            }
            for (Future<RecordMetadata> ack : acks) {
                ack.get(30, TimeUnit.SECONDS);
            }
        }
    }

    static Result commitAndResume(Context ctx) throws Exception {
        String topic = ctx.name("resume");
        String group = ctx.name("resume-g");
        TopicPartition tp = new TopicPartition(topic, 0);
        Clients.createTopic(ctx, topic, 1, Map.of());
        produce(ctx, topic, 0, 20);
        try (KafkaConsumer<byte[], byte[]> first = Clients.member(ctx, group)) {
            first.subscribe(List.of(topic));
            ConsumerRecord<byte[], byte[]> r = Clients.firstRecord(first, WAIT);
            check(r.offset() == 0, "a new group started at offset " + r.offset() + ", want 0 (earliest)");
            first.commitSync(Map.of(tp, new OffsetAndMetadata(10, "resume-here")));
        }
        try (KafkaConsumer<byte[], byte[]> second = Clients.member(ctx, group)) {
            OffsetAndMetadata committed = second.committed(Set.of(tp), WAIT).get(tp);
            check(committed != null && committed.offset() == 10 && "resume-here".equals(committed.metadata()),
                    "committed offset seen by the next member: " + committed + ", want 10 with metadata");
            second.subscribe(List.of(topic));
            ConsumerRecord<byte[], byte[]> r = Clients.firstRecord(second, WAIT);
            check(r.offset() == 10 && "v10".equals(str(r.value())), "the next member resumed at offset " + r.offset()
                    + ", want 10");
        }
        return Result.pass("committed 10 (with metadata), closed; the next member resumed at offset 10");
    }
}

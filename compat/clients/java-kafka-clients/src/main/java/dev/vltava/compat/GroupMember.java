package dev.vltava.compat;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * One subscribed consumer on its own thread (a KafkaConsumer is single-threaded): polls, counts
 * every delivery by partition-offset, commits after each non-empty poll, publishes its assignment,
 * and leaves the group (close) when stopped.
 */
final class GroupMember {
    private static final Duration POLL = Duration.ofMillis(100);
    private static final long CLOSE_WAIT_MS = 30_000;

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final ConcurrentHashMap<String, Integer> deliveries;
    private final AtomicReference<Set<TopicPartition>> assignment = new AtomicReference<>(Set.of());
    private final AtomicReference<Throwable> error = new AtomicReference<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    /** {@code deliveries} is shared by the members: "partition-offset" to times delivered. */
    GroupMember(Context ctx, String group, String topic, String name, ConcurrentHashMap<String, Integer> deliveries) {
        this.consumer = Clients.member(ctx, group, "client.id=" + name);
        this.topic = topic;
        this.deliveries = deliveries;
        this.thread = new Thread(this::loop, name);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void loop() {
        try {
            consumer.subscribe(List.of(topic));
            while (running.get()) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    deliveries.merge(r.partition() + "-" + r.offset(), 1, Integer::sum);
                }
                if (!records.isEmpty()) {
                    consumer.commitSync();
                }
                assignment.set(new HashSet<>(consumer.assignment()));
            }
        } catch (Throwable t) {
            error.set(t);
        } finally {
            assignment.set(Set.of());
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofMillis(CLOSE_WAIT_MS)));
        }
    }

    Set<TopicPartition> assignment() {
        return assignment.get();
    }

    /** The member's failure, if its loop died (a scenario must not wait on a dead member). */
    Throwable error() {
        return error.get();
    }

    /** Stops polling and leaves the group; returns when the consumer is closed. */
    void leave() throws InterruptedException {
        running.set(false);
        thread.join(CLOSE_WAIT_MS + 5_000);
    }
}

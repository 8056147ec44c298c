package dev.vltava.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Client factories with the defaults every scenario shares, and the helpers they repeat. */
final class Clients {
    /** An admin call's bound: well inside the scenario's 60 s. */
    static final long ADMIN_TIMEOUT_S = 20;
    /** How long a read waits for records that were acknowledged. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(25);
    private static final Duration POLL = Duration.ofMillis(200);

    private Clients() {}

    static Admin admin(Context ctx) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(ADMIN_TIMEOUT_S / 2));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(ADMIN_TIMEOUT_S));
        return Admin.create(p);
    }

    /** A producer with the client's defaults plus {@code overrides} (key=value pairs). */
    static KafkaProducer<byte[], byte[]> producer(Context ctx, String... overrides) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 20_000);
        putAll(p, overrides);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** A consumer without a group (assign only); still the protocol's consumer implementation. */
    static KafkaConsumer<byte[], byte[]> consumer(Context ctx, String... overrides) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, ctx.consumerProtocol() ? "consumer" : "classic");
        putAll(p, overrides);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** A group member that commits by hand. */
    static KafkaConsumer<byte[], byte[]> member(Context ctx, String group, String... overrides) {
        List<String> all = new ArrayList<>(List.of(ConsumerConfig.GROUP_ID_CONFIG + "=" + group));
        all.addAll(List.of(overrides));
        return consumer(ctx, all.toArray(new String[0]));
    }

    private static void putAll(Properties p, String... overrides) {
        for (String kv : overrides) {
            int eq = kv.indexOf('=');
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
    }

    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs)
            throws Exception {
        NewTopic topic = new NewTopic(name, partitions, (short) 1).configs(configs);
        admin.createTopics(List.of(topic)).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
        awaitLeaders(admin, name, partitions);
    }

    /**
     * Waits (bounded) until every partition's leader answers ListOffsets. Kafka acknowledges
     * CreateTopics before its broker has loaded the new partitions; an idempotent producer that
     * meets NOT_LEADER_OR_FOLLOWER there can end up retrying OUT_OF_ORDER_SEQUENCE_NUMBER for
     * the rest of the scenario (seen once, in a full matrix run against Kafka 4.4.0).
     */
    static void awaitLeaders(Admin admin, String topic, int partitions) throws Exception {
        Map<TopicPartition, OffsetSpec> latest = partitions(topic, partitions).stream()
                .collect(Collectors.toMap(Function.identity(), tp -> OffsetSpec.latest()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(ADMIN_TIMEOUT_S);
        while (true) {
            try {
                admin.listOffsets(latest).all().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                Thread.sleep(100); // poll interval while the partitions load
            }
        }
    }

    static void createTopic(Context ctx, String name, int partitions, Map<String, String> configs)
            throws Exception {
        try (Admin admin = admin(ctx)) {
            createTopic(admin, name, partitions, configs);
        }
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < count; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        return tps;
    }

    /**
     * Reads the partitions from the beginning up to their end offsets as of the call, so that a
     * duplicate or a missing record shows as a wrong count rather than a wait.
     */
    static List<ConsumerRecord<byte[], byte[]>> readAll(Context ctx, Collection<TopicPartition> tps) {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(ctx)) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            return readToEnd(consumer, tps);
        }
    }

    /** Polls an assigned consumer until its position reaches each partition's end offset. */
    static List<ConsumerRecord<byte[], byte[]>> readToEnd(
            KafkaConsumer<byte[], byte[]> consumer, Collection<TopicPartition> tps) {
        Map<TopicPartition, Long> end = consumer.endOffsets(tps, READ_TIMEOUT);
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        while (!reached(consumer, end)) {
            CheckFailed.check(System.nanoTime() < deadline,
                    "read did not reach the end offsets " + end + " within " + READ_TIMEOUT.toSeconds() + " s");
            consumer.poll(POLL).forEach(out::add);
        }
        return out;
    }

    private static boolean reached(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey(), READ_TIMEOUT) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    /** The first record a consumer polls, or a failed check after {@code timeout}. */
    static ConsumerRecord<byte[], byte[]> firstRecord(KafkaConsumer<byte[], byte[]> consumer, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            var records = consumer.poll(POLL);
            if (!records.isEmpty()) {
                return records.iterator().next();
            }
        }
        throw new CheckFailed("no record within " + timeout.toSeconds() + " s (assignment " + consumer.assignment() + ")");
    }

    static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }
}

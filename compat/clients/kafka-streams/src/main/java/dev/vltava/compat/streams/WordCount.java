package dev.vltava.compat.streams;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * streams_word_count: lines into PREFIX-wc-input (2 partitions), a topology that splits them into
 * words, re-keys by word (a repartition topic), counts into a state store (its changelog topic)
 * and writes the counts to PREFIX-wc-output; the last count per word read back must equal the
 * count computed here, and the store must answer the same.
 *
 * <p>streams_exactly_once runs the same with {@code processing.guarantee=exactly_once_v2} (one
 * transactional producer per stream thread, offsets committed in its transactions) and reads
 * the output read_committed: with the store's cache off every count is written, so each word's
 * updates must be exactly 1, 2, ..., n, none twice and none missing.
 */
final class WordCount {
    private static final String STORE = "word-counts";
    private static final String GROUPING = "by-word";
    private static final List<String> LINES = List.of(
            "the quick brown fox jumps over the lazy dog",
            "The dog barks; the fox runs",
            "a fox, a dog and a stream",
            "streams count words word by word",
            "",
            "THE END");
    /** Startup plus processing share the scenario's 60 s with some margin for closing. */
    private static final Duration RUNNING_WAIT = Duration.ofSeconds(25);
    private static final Duration OUTPUT_WAIT = Duration.ofSeconds(20);

    private final String bootstrap;
    private final String prefix;
    private final String guarantee;

    /** {@code guarantee} is StreamsConfig's processing.guarantee. */
    WordCount(String bootstrap, String prefix, String guarantee) {
        this.bootstrap = bootstrap;
        this.prefix = prefix;
        this.guarantee = guarantee;
    }

    private boolean exactlyOnce() {
        return guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2);
    }

    /** A scenario expectation that did not hold. */
    static final class CheckFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CheckFailed(String message) {
            super(message);
        }
    }

    private static void check(boolean condition, String message) {
        if (!condition) {
            throw new CheckFailed(message);
        }
    }

    String run() throws Exception {
        String appId = prefix + "-wordcount";
        String input = prefix + "-wc-input";
        String output = prefix + "-wc-output";
        Map<String, Long> expected = expectedCounts();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(input, 2, (short) 1), new NewTopic(output, 1, (short) 1)))
                    .all().get(20, TimeUnit.SECONDS);
        }
        produceLines(input);
        Path stateDir = Files.createTempDirectory("compat-streams-");
        KafkaStreams streams = new KafkaStreams(topology(input, output), config(appId, stateDir));
        try {
            awaitRunning(streams);
            Map<String, List<Long>> updates = readUpdates(output, expected);
            Map<String, Long> counts = lastOf(updates);
            check(counts.equals(expected), "counts read back " + new TreeMap<>(counts) + ", want " + new TreeMap<>(expected));
            if (exactlyOnce()) {
                for (Map.Entry<String, List<Long>> e : updates.entrySet()) {
                    List<Long> once = new ArrayList<>();
                    for (long n = 1; n <= expected.get(e.getKey()); n++) {
                        once.add(n);
                    }
                    check(e.getValue().equals(once), "the updates of " + e.getKey() + " were " + e.getValue()
                            + ", want each count once: " + once);
                }
            }
            ReadOnlyKeyValueStore<String, Long> store = streams.store(
                    StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
            for (Map.Entry<String, Long> e : expected.entrySet()) {
                check(e.getValue().equals(store.get(e.getKey())),
                        "the state store says " + e.getKey() + "=" + store.get(e.getKey()) + ", want " + e.getValue());
            }
            List<String> internal = internalTopics(appId);
            check(internal.contains(appId + "-" + GROUPING + "-repartition")
                            && internal.contains(appId + "-" + STORE + "-changelog"),
                    "internal topics " + internal + " lack the repartition or the changelog topic");
            String counted = expected.size() + " words counted right (e.g. the=" + expected.get("the") + ", fox="
                    + expected.get("fox") + "), store agrees";
            return exactlyOnce()
                    ? "exactly_once_v2: " + counted + ", each count written once (read_committed)"
                    : counted + "; internal topics " + internal;
        } finally {
            streams.close(Duration.ofSeconds(10));
            streams.cleanUp();
            deleteTree(stateDir);
        }
    }

    private static Map<String, Long> expectedCounts() {
        Map<String, Long> out = new HashMap<>();
        for (String line : LINES) {
            for (String word : words(line)) {
                out.merge(word, 1L, Long::sum);
            }
        }
        return out;
    }

    static List<String> words(String line) {
        return Arrays.stream(line.toLowerCase(Locale.ROOT).split("\\W+")).filter(w -> !w.isEmpty()).toList();
    }

    static org.apache.kafka.streams.Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(WordCount::words)
                // Re-keying by word is what makes Streams write the repartition topic.
                .groupBy((key, word) -> word, Grouped.with(GROUPING, Serdes.String(), Serdes.String()))
                .count(Materialized.as(STORE))
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    private Properties config(String appId, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        // Commit and forward often so the counts show within the scenario's bound.
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        return p;
    }

    private void produceLines(String input) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < LINES.size(); i++) {
                producer.send(new ProducerRecord<>(input, "line-" + i, LINES.get(i))).get(20, TimeUnit.SECONDS);
            }
        }
    }

    private static void awaitRunning(KafkaStreams streams) throws InterruptedException {
        CountDownLatch running = new CountDownLatch(1);
        AtomicReference<KafkaStreams.State> last = new AtomicReference<>();
        streams.setStateListener((now, before) -> {
            last.set(now);
            if (now == KafkaStreams.State.RUNNING) {
                running.countDown();
            }
        });
        AtomicReference<Throwable> failure = new AtomicReference<>();
        streams.setUncaughtExceptionHandler(e -> {
            failure.set(e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        boolean ok = running.await(RUNNING_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        check(failure.get() == null, "a stream thread failed: " + failure.get());
        check(ok, "not RUNNING within " + RUNNING_WAIT.toSeconds() + " s (state " + last.get() + ")");
    }

    /**
     * Reads the output (read_committed) until the last count of every word reaches the expected
     * one, bounded; every count written per word, in order.
     */
    private Map<String, List<Long>> readUpdates(String output, Map<String, Long> expected) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        Map<String, List<Long>> updates = new HashMap<>();
        try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer())) {
            List<TopicPartition> tps = List.of(new TopicPartition(output, 0));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + OUTPUT_WAIT.toNanos();
            while (!lastOf(updates).equals(expected) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
                    updates.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
                }
            }
        }
        return updates;
    }

    private static Map<String, Long> lastOf(Map<String, List<Long>> updates) {
        Map<String, Long> last = new HashMap<>();
        updates.forEach((word, counts) -> last.put(word, counts.get(counts.size() - 1)));
        return last;
    }

    private List<String> internalTopics(String appId) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            Set<String> names = admin.listTopics().names().get(20, TimeUnit.SECONDS);
            List<String> out = new ArrayList<>();
            for (String n : names) {
                if (n.startsWith(appId + "-")) {
                    out.add(n);
                }
            }
            out.sort(Comparator.naturalOrder());
            return out;
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}

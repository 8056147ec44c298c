package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.bytes;
import static dev.vltava.compat.Clients.str;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.utils.Utils;

/** Scenarios about what a record is and where it lands: produce, read back, compare. */
final class RecordScenarios {
    private static final int MIB = 1 << 20;

    private RecordScenarios() {}

    static Result metadata(Context ctx) throws Exception {
        String topic = ctx.name("metadata");
        try (Admin admin = Clients.admin(ctx)) {
            Clients.createTopic(admin, topic, 3, Map.of());
            var nodes = admin.describeCluster().nodes().get(Clients.ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
            check(!nodes.isEmpty(), "describeCluster listed no broker");
            var names = admin.listTopics().names().get(Clients.ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
            check(names.contains(topic), "listTopics lacks " + topic);
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames()
                    .get(Clients.ADMIN_TIMEOUT_S, TimeUnit.SECONDS).get(topic);
            check(d.partitions().size() == 3, "describeTopics: " + d.partitions().size() + " partitions, want 3");
            try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
                int seen = producer.partitionsFor(topic).size();
                check(seen == 3, "producer metadata: " + seen + " partitions, want 3");
            }
            Node node = nodes.iterator().next();
            return Result.pass(nodes.size() + " broker(s), first " + node.host() + ":" + node.port() + "; topic has 3 partitions");
        }
    }

    static Result produceConsume(Context ctx) throws Exception {
        String topic = ctx.name("produce-consume");
        int records = 300;
        Clients.createTopic(ctx, topic, 3, Map.of());
        // Where each value was acknowledged, by partition and offset.
        Map<TopicPartition, List<String>> sent = new HashMap<>();
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, bytes("key-" + (i % 30)), bytes("v" + i))));
            }
            for (int i = 0; i < records; i++) {
                RecordMetadata md = acks.get(i).get(30, TimeUnit.SECONDS);
                sent.computeIfAbsent(new TopicPartition(topic, md.partition()), k -> new ArrayList<>()).add("v" + i);
            }
        }
        Map<TopicPartition, List<String>> got = new HashMap<>();
        Map<String, Integer> keyPartition = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : Clients.readAll(ctx, Clients.partitions(topic, 3))) {
            TopicPartition tp = new TopicPartition(topic, r.partition());
            got.computeIfAbsent(tp, k -> new ArrayList<>()).add(str(r.value()));
            Integer before = keyPartition.put(str(r.key()), r.partition());
            check(before == null || before == r.partition(), "key " + str(r.key()) + " found in two partitions");
        }
        check(got.equals(sent), "read back differs from what was acknowledged, per partition in order: sent "
                + sizes(sent) + ", got " + sizes(got));
        return Result.pass(records + " keyed records over 3 partitions read back complete and in order " + sizes(got));
    }

    private static Map<Integer, Integer> sizes(Map<TopicPartition, List<String>> byPartition) {
        Map<Integer, Integer> out = new java.util.TreeMap<>();
        byPartition.forEach((tp, values) -> out.put(tp.partition(), values.size()));
        return out;
    }

    static Result headers(Context ctx) throws Exception {
        String topic = ctx.name("headers");
        Clients.createTopic(ctx, topic, 1, Map.of());
        byte[] binary = {0, 1, 2, (byte) 0x7f, (byte) 0x80, (byte) 0xff};
        List<Header> headers = List.of(
                new RecordHeader("trace", bytes("abc")),
                new RecordHeader("dup", bytes("first")),
                new RecordHeader("dup", bytes("second")),
                new RecordHeader("bin", binary),
                new RecordHeader("empty", new byte[0]),
                new RecordHeader("null", null));
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            producer.send(new ProducerRecord<>(topic, 0, bytes("with"), bytes("v"), headers)).get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>(topic, 0, bytes("without"), bytes("v"))).get(30, TimeUnit.SECONDS);
        }
        List<ConsumerRecord<byte[], byte[]>> got = Clients.readAll(ctx, Clients.partitions(topic, 1));
        check(got.size() == 2, "read " + got.size() + " records, want 2");
        Header[] read = got.get(0).headers().toArray();
        check(read.length == headers.size(), "read " + read.length + " headers, want " + headers.size());
        for (int i = 0; i < read.length; i++) {
            Header want = headers.get(i);
            check(read[i].key().equals(want.key()) && Arrays.equals(read[i].value(), want.value()),
                    "header " + i + " is " + read[i].key() + "=" + Arrays.toString(read[i].value())
                            + ", want " + want.key() + "=" + Arrays.toString(want.value()));
        }
        check(got.get(1).headers().toArray().length == 0, "the record without headers has headers");
        return Result.pass("6 headers (repeated key, binary, empty and null values) round-trip in order");
    }

    static Result nullAndEmptyValues(Context ctx) throws Exception {
        String topic = ctx.name("null-empty");
        Clients.createTopic(ctx, topic, 1, Map.of());
        byte[][][] cases = {
            {bytes("tombstone"), null},
            {bytes("empty-value"), new byte[0]},
            {new byte[0], bytes("empty-key")},
            {null, bytes("null-key")},
        };
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            for (byte[][] c : cases) {
                producer.send(new ProducerRecord<>(topic, 0, c[0], c[1])).get(30, TimeUnit.SECONDS);
            }
        }
        List<ConsumerRecord<byte[], byte[]>> got = Clients.readAll(ctx, Clients.partitions(topic, 1));
        check(got.size() == cases.length, "read " + got.size() + " records, want " + cases.length);
        for (int i = 0; i < cases.length; i++) {
            ConsumerRecord<byte[], byte[]> r = got.get(i);
            check(sameBytes(r.key(), cases[i][0]), "record " + i + ": key " + show(r.key()) + ", want " + show(cases[i][0]));
            check(sameBytes(r.value(), cases[i][1]),
                    "record " + i + ": value " + show(r.value()) + ", want " + show(cases[i][1]));
        }
        return Result.pass("null value, empty value, empty key and null key read back distinctly");
    }

    /** Null and empty are different answers; Arrays.equals alone would not say which. */
    private static boolean sameBytes(byte[] a, byte[] b) {
        return (a == null) == (b == null) && (a == null || Arrays.equals(a, b));
    }

    private static String show(byte[] b) {
        return b == null ? "null" : "\"" + str(b) + "\"(" + b.length + " bytes)";
    }

    static Result value1Mib(Context ctx) throws Exception {
        String topic = ctx.name("value-1mib");
        Clients.createTopic(ctx, topic, 1, Map.of("max.message.bytes", Integer.toString(2 * MIB)));
        byte[] value = new byte[MIB];
        new Random(42).nextBytes(value);
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx, "max.request.size=" + 2 * MIB)) {
            producer.send(new ProducerRecord<>(topic, 0, bytes("big"), value)).get(30, TimeUnit.SECONDS);
        }
        List<ConsumerRecord<byte[], byte[]>> got = Clients.readAll(ctx, Clients.partitions(topic, 1));
        check(got.size() == 1, "read " + got.size() + " records, want 1");
        check(Arrays.equals(got.get(0).value(), value), "the 1 MiB value came back different ("
                + (got.get(0).value() == null ? "null" : got.get(0).value().length + " bytes") + ")");
        return Result.pass("1048576-byte value round-trips byte for byte");
    }

    static Result partitionerMurmur2(Context ctx) throws Exception {
        String topic = ctx.name("murmur2");
        int partitions = 12;
        Map<String, Integer> expected = expectedMurmur2();
        Clients.createTopic(ctx, topic, partitions, Map.of());
        List<String> wrong = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, bytes("key-" + i), bytes("v" + i))));
            }
            for (int i = 0; i < 100; i++) {
                String key = "key-" + i;
                int own = Utils.toPositive(Utils.murmur2(bytes(key))) % partitions;
                check(expected.get(key) != null && expected.get(key) == own,
                        "compat/expected/murmur2-12.json says " + key + " -> " + expected.get(key) + ", Utils.murmur2 says " + own);
                int landed = acks.get(i).get(30, TimeUnit.SECONDS).partition();
                if (landed != own) {
                    wrong.add(key + "->" + landed + " (want " + own + ")");
                }
            }
        }
        check(wrong.isEmpty(), wrong.size() + " keys landed elsewhere: " + wrong);
        return Result.pass("100 keys landed on Java's murmur2 partitions (12 partitions)");
    }

    /** compat/expected/murmur2-12.json: a flat {"key-N": partition} object. */
    private static Map<String, Integer> expectedMurmur2() throws Exception {
        Path path = Path.of(System.getProperty("compat.dir", "compat"), "expected", "murmur2-12.json");
        String json = Files.readString(path);
        Map<String, Integer> out = new HashMap<>();
        Matcher m = Pattern.compile("\"([^\"]+)\"\\s*:\\s*(\\d+)").matcher(json);
        while (m.find()) {
            out.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        check(out.size() == 100, path + " has " + out.size() + " keys, want 100");
        return out;
    }

    static Result seek(Context ctx) throws Exception {
        String topic = ctx.name("seek");
        TopicPartition tp = new TopicPartition(topic, 0);
        Clients.createTopic(ctx, topic, 1, Map.of());
        // CreateTime stamps one second apart, in the recent past (Kafka refuses far-future stamps).
        long base = System.currentTimeMillis() - 600_000;
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, 0, base + i * 1000L, bytes("k" + i), bytes("v" + i)))
                        .get(30, TimeUnit.SECONDS);
            }
        }
        try (var consumer = Clients.consumer(ctx)) {
            consumer.assign(List.of(tp));
            consumer.seekToEnd(List.of(tp));
            long end = consumer.position(tp, Clients.READ_TIMEOUT);
            check(end == 10, "seekToEnd: position " + end + ", want 10");
            consumer.seekToBeginning(List.of(tp));
            long begin = consumer.position(tp, Clients.READ_TIMEOUT);
            check(begin == 0, "seekToBeginning: position " + begin + ", want 0");
            ConsumerRecord<byte[], byte[]> first = Clients.firstRecord(consumer, Clients.READ_TIMEOUT);
            check(first.offset() == 0 && "v0".equals(str(first.value())), "after seekToBeginning read offset " + first.offset());

            var found = consumer.offsetsForTimes(Map.of(tp, base + 4500), Clients.READ_TIMEOUT).get(tp);
            check(found != null && found.offset() == 5 && found.timestamp() == base + 5000,
                    "offsetsForTimes(t4.5) = " + found + ", want offset 5 at t5");
            var beyond = consumer.offsetsForTimes(Map.of(tp, base + 60_000), Clients.READ_TIMEOUT).get(tp);
            check(beyond == null, "offsetsForTimes past the last record = " + beyond + ", want none");
            consumer.seek(tp, found.offset());
            ConsumerRecord<byte[], byte[]> fifth = Clients.firstRecord(consumer, Clients.READ_TIMEOUT);
            check(fifth.offset() == 5 && fifth.timestamp() == base + 5000 && "v5".equals(str(fifth.value())),
                    "after seek to the timestamp's offset read offset " + fifth.offset());
        }
        return Result.pass("beginning=0, end=10, offsetsForTimes(t4.5)=5, past the end=none; reads land there");
    }

    static Result idempotentProducer(Context ctx) throws Exception {
        String topic = ctx.name("idempotent");
        int records = 500;
        Clients.createTopic(ctx, topic, 1, Map.of());
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx,
                "enable.idempotence=true", "acks=all", "max.in.flight.requests.per.connection=5", "linger.ms=2",
                "batch.size=2048")) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, 0, bytes("k" + i), bytes("v" + i))));
            }
            for (int i = 0; i < records; i++) {
                long offset = acks.get(i).get(30, TimeUnit.SECONDS).offset();
                check(offset == i, "record " + i + " acknowledged at offset " + offset);
            }
        }
        List<ConsumerRecord<byte[], byte[]>> got = Clients.readAll(ctx, Clients.partitions(topic, 1));
        check(got.size() == records, "read " + got.size() + " records, want " + records);
        for (int i = 0; i < records; i++) {
            check(("v" + i).equals(str(got.get(i).value())), "offset " + i + " holds " + str(got.get(i).value()));
        }
        return Result.pass(records + " records in small batches, 5 in flight: no duplicate, in order");
    }
}

package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.bytes;
import static dev.vltava.compat.Clients.str;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** Transactions (KIP-98, KIP-447; with Kafka 4's brokers the client uses KIP-890's version 2). */
final class TransactionScenarios {
    private static final Duration POLL = Duration.ofMillis(200);
    private static final Duration WAIT = Duration.ofSeconds(25);
    /** Input records of consume-transform-produce, read in batches of BATCH_RECORDS. */
    private static final int INPUT_RECORDS = 30;
    private static final int BATCH_RECORDS = 10;

    private TransactionScenarios() {}

    /** Commit, abort, commit: read_committed sees the two committed transactions in order. */
    static Result transactions(Context ctx) throws Exception {
        String topic = ctx.name("transactions");
        Clients.createTopic(ctx, topic, 1, Map.of());
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx, "transactional.id=" + ctx.name("txn"))) {
            producer.initTransactions();
            for (String name : List.of("a", "b", "c")) {
                producer.beginTransaction();
                for (int i = 0; i < 3; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, null, bytes(name + i)));
                }
                if (name.equals("b")) {
                    producer.flush();
                    producer.abortTransaction();
                } else {
                    producer.commitTransaction();
                }
            }
        }
        List<TopicPartition> tps = Clients.partitions(topic, 1);
        List<String> committed = values(readAll(ctx, tps, "read_committed"));
        check(committed.equals(List.of("a0", "a1", "a2", "c0", "c1", "c2")), "read_committed read " + committed);
        List<String> everything = values(readAll(ctx, tps, "read_uncommitted"));
        check(everything.equals(List.of("a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2")),
                "read_uncommitted read " + everything);
        return Result.pass("commit, abort, commit: read_committed 6 records in order, read_uncommitted 9");
    }

    /**
     * Reads an input topic in batches, writes each batch transformed with its offsets
     * (sendOffsetsToTransaction); the second batch is aborted once and redone. The output holds
     * every input record once, and the group's committed offset is the input's end.
     */
    static Result consumeTransformProduce(Context ctx) throws Exception {
        String input = ctx.name("ctp-in");
        String output = ctx.name("ctp-out");
        String group = ctx.name("ctp-g");
        TopicPartition in = new TopicPartition(input, 0);
        try (Admin admin = Clients.admin(ctx)) {
            Clients.createTopic(admin, input, 1, Map.of());
            Clients.createTopic(admin, output, 1, Map.of());
        }
        try (KafkaProducer<byte[], byte[]> plain = Clients.producer(ctx)) {
            for (int i = 0; i < INPUT_RECORDS; i++) {
                plain.send(new ProducerRecord<>(input, 0, null, bytes("in" + i)));
            }
            plain.flush();
        }
        int aborted = 0;
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx, "transactional.id=" + ctx.name("ctp-txn"));
             KafkaConsumer<byte[], byte[]> consumer = Clients.member(ctx, group, "isolation.level=read_committed",
                     "max.poll.records=" + BATCH_RECORDS)) {
            producer.initTransactions();
            consumer.subscribe(List.of(input));
            long deadline = System.nanoTime() + WAIT.toNanos();
            long position = 0;
            int batch = 0;
            while (position < INPUT_RECORDS) {
                check(System.nanoTime() < deadline, "consumed up to offset " + position + " in " + WAIT.toSeconds() + " s");
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                if (records.isEmpty()) {
                    continue;
                }
                producer.beginTransaction();
                long next = position;
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    producer.send(new ProducerRecord<>(output, 0, null, bytes("out-" + str(r.value()))));
                    next = r.offset() + 1;
                }
                producer.sendOffsetsToTransaction(Map.of(in, new OffsetAndMetadata(next)), consumer.groupMetadata());
                if (batch++ == 1) {
                    producer.flush(); // the aborted records reach the log, to be filtered out
                    producer.abortTransaction();
                    aborted += records.count();
                    consumer.seek(in, position); // redo the batch from the last committed offset
                } else {
                    producer.commitTransaction();
                    position = next;
                }
            }
        }
        List<String> out = values(readAll(ctx, Clients.partitions(output, 1), "read_committed"));
        List<String> want = new ArrayList<>();
        for (int i = 0; i < INPUT_RECORDS; i++) {
            want.add("out-in" + i);
        }
        check(out.equals(want), "read_committed output " + out);
        List<String> all = values(readAll(ctx, Clients.partitions(output, 1), "read_uncommitted"));
        check(aborted > 0 && all.size() == INPUT_RECORDS + aborted,
                "read_uncommitted output has " + all.size() + " records, want " + INPUT_RECORDS + " + " + aborted + " aborted");
        try (KafkaConsumer<byte[], byte[]> next = Clients.member(ctx, group)) {
            OffsetAndMetadata committed = next.committed(Set.of(in), WAIT).get(in);
            check(committed != null && committed.offset() == INPUT_RECORDS,
                    "group offset " + committed + ", want " + INPUT_RECORDS);
        }
        return Result.pass(INPUT_RECORDS + " records in batches of " + BATCH_RECORDS + ", one batch (" + aborted
                + ") aborted and redone: output exactly once in order, group offset " + INPUT_RECORDS);
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(Context ctx, List<TopicPartition> tps, String isolation) {
        try (KafkaConsumer<byte[], byte[]> consumer = Clients.consumer(ctx, "isolation.level=" + isolation)) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            return Clients.readToEnd(consumer, tps);
        }
    }

    private static List<String> values(List<ConsumerRecord<byte[], byte[]>> records) {
        List<String> out = new ArrayList<>();
        records.forEach(r -> out.add(str(r.value())));
        return out;
    }
}

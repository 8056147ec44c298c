package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.bytes;
import static dev.vltava.compat.Clients.str;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * compression_<codec>: 100 records k0..k99/v0..v99 with the codec to PREFIX-codec-<codec>, read
 * back; with --previous-prefix also reads the previous client's P-codec-<codec> (the cross-client
 * check). The topic stays for the next client.
 */
final class CompressionScenario {
    static final List<String> CODECS = List.of("gzip", "snappy", "lz4", "zstd");
    private static final int RECORDS = 100;

    private CompressionScenario() {}

    static Result run(Context ctx, String codec) throws Exception {
        String topic = ctx.name("codec-" + codec);
        Clients.createTopic(ctx, topic, 1, Map.of());
        // linger lets the 100 records share compressed batches, which is what the codec is for.
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx, "compression.type=" + codec, "linger.ms=20")) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < RECORDS; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, 0, bytes("k" + i), bytes("v" + i))));
            }
            for (Future<RecordMetadata> ack : acks) {
                ack.get(30, TimeUnit.SECONDS);
            }
        }
        checkRecords(ctx, topic);
        if (ctx.previousPrefix().isEmpty()) {
            return Result.pass("100 " + codec + " records round-trip");
        }
        String previous = ctx.previousPrefix().get() + "-codec-" + codec;
        Set<String> names;
        try (Admin admin = Clients.admin(ctx)) {
            names = admin.listTopics().names().get(Clients.ADMIN_TIMEOUT_S, TimeUnit.SECONDS);
        }
        if (!names.contains(previous)) {
            // The previous client could not write this codec (its own row says why).
            return Result.pass("100 " + codec + " records round-trip; no " + previous + " to cross-check");
        }
        checkRecords(ctx, previous);
        return Result.pass("100 " + codec + " records round-trip; " + previous + " reads back the same");
    }

    private static void checkRecords(Context ctx, String topic) {
        List<ConsumerRecord<byte[], byte[]>> got = Clients.readAll(ctx, Clients.partitions(topic, 1));
        check(got.size() == RECORDS, topic + ": read " + got.size() + " records, want " + RECORDS);
        for (int i = 0; i < RECORDS; i++) {
            ConsumerRecord<byte[], byte[]> r = got.get(i);
            check(("k" + i).equals(str(r.key())) && ("v" + i).equals(str(r.value())),
                    topic + ": record " + i + " is " + str(r.key()) + "=" + str(r.value()));
        }
    }
}

package dev.vltava.compat;

import static dev.vltava.compat.CheckFailed.check;
import static dev.vltava.compat.Clients.ADMIN_TIMEOUT_S;
import static dev.vltava.compat.Clients.bytes;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/** The errors a client must see as Kafka's codes, each as the Java client surfaces it. */
final class ErrorScenarios {
    private ErrorScenarios() {}

    /** Runs {@code call} and returns the client exception it failed with, or null if it succeeded. */
    @FunctionalInterface
    interface Call {
        void run() throws Exception;
    }

    private static Throwable failure(Call call) {
        try {
            call.run();
            return null;
        } catch (Exception e) {
            return Errors.root(e);
        }
    }

    static Result unknownTopic(Context ctx) throws Exception {
        String topic = ctx.name("missing");
        try (Admin admin = Clients.admin(ctx)) {
            Throwable describe = failure(() -> admin.describeTopics(List.of(topic)).allTopicNames()
                    .get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS));
            check(describe instanceof UnknownTopicOrPartitionException,
                    "describeTopics(missing) gave " + show(describe) + ", want UnknownTopicOrPartitionException");
            // The Java producer treats UNKNOWN_TOPIC_OR_PARTITION in metadata as retriable and
            // surfaces it as a metadata timeout naming the topic.
            try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx, "max.block.ms=3000")) {
                Throwable send = failure(() -> producer.send(new ProducerRecord<>(topic, bytes("k"), bytes("v")))
                        .get(30, TimeUnit.SECONDS));
                check(send instanceof TimeoutException && String.valueOf(send.getMessage()).contains("not present in metadata"),
                        "producing to a missing topic gave " + show(send) + ", want the metadata timeout");
            }
            check(!admin.listTopics().names().get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS).contains(topic),
                    "the missing topic was created (auto creation is off)");
        }
        return Result.pass("describeTopics: UnknownTopicOrPartitionException; produce: not present in metadata; not created");
    }

    static Result recordTooLarge(Context ctx) throws Exception {
        String topic = ctx.name("too-large");
        Clients.createTopic(ctx, topic, 1, Map.of("max.message.bytes", "10000"));
        try (KafkaProducer<byte[], byte[]> producer = Clients.producer(ctx)) {
            // Under the producer's own max.request.size, so only the broker can refuse it.
            Throwable send = failure(() -> producer.send(new ProducerRecord<>(topic, 0, bytes("k"), new byte[20_000]))
                    .get(30, TimeUnit.SECONDS));
            check(send instanceof RecordTooLargeException,
                    "a 20000-byte record to a topic with max.message.bytes=10000 gave " + show(send)
                            + ", want RecordTooLargeException (MESSAGE_TOO_LARGE)");
            producer.send(new ProducerRecord<>(topic, 0, bytes("k"), new byte[1000])).get(30, TimeUnit.SECONDS);
        }
        return Result.pass("RecordTooLargeException from the broker; a small record after it is accepted");
    }

    static Result invalidTopicName(Context ctx) throws Exception {
        try (Admin admin = Clients.admin(ctx)) {
            Throwable create = failure(() -> admin.createTopics(List.of(new NewTopic("bad name!", 1, (short) 1))).all()
                    .get(ADMIN_TIMEOUT_S, TimeUnit.SECONDS));
            check(create instanceof InvalidTopicException,
                    "creating \"bad name!\" gave " + show(create) + ", want InvalidTopicException");
        }
        return Result.pass("InvalidTopicException for \"bad name!\"");
    }

    static Result topicExists(Context ctx) throws Exception {
        String topic = ctx.name("exists");
        try (Admin admin = Clients.admin(ctx)) {
            Clients.createTopic(admin, topic, 1, Map.of());
            Throwable again = failure(() -> Clients.createTopic(admin, topic, 1, Map.of()));
            check(again instanceof TopicExistsException,
                    "creating an existing topic gave " + show(again) + ", want TopicExistsException");
        }
        return Result.pass("TopicExistsException on the second create");
    }

    private static String show(Throwable t) {
        return t == null ? "success" : t.getClass().getSimpleName() + ": " + t.getMessage();
    }
}

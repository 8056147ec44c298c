package dev.vltava.shop;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.context.annotation.Profile;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.stereotype.Component;

/**
 * What the inventory and notification listeners share: one attempt at an order event, and on a
 * failure the event sent on to the service's retry or dlq topic.
 *
 * <p>Spring Kafka's own non-blocking retries (@RetryableTopic) name their topics and headers
 * differently from the contract (e.g. a binary {@code retry_topic-attempts} header), so this is
 * written plainly: the listener returns only once the event's effect is applied or its copy is
 * acknowledged by the broker, and only then does the container commit its offset (AckMode.RECORD).
 */
@Component
@Profile({"inventory", "notification"})
public class Attempts {
    /** Attempts at an event before it goes to the dlq, the first one included. */
    static final int ATTEMPTS_MAX = 3;

    /** What this service sent to its dlq, for {@code GET /dlq}. */
    public record DeadLetter(String orderId, String error, int attempts) {}

    private final KafkaTemplate<String, byte[]> kafka;
    private final ObjectMapper json;
    private final List<DeadLetter> deadLetters = new CopyOnWriteArrayList<>();

    Attempts(KafkaTemplate<String, byte[]> kafka, ObjectMapper json) {
        this.kafka = kafka;
        this.json = json;
    }

    public List<DeadLetter> deadLetters() {
        return List.copyOf(deadLetters);
    }

    /**
     * Attempts the event {@code record} consumed by {@code service}: applies {@code effect} to its
     * order, or writes it to the retry or dlq topic and waits for the acknowledgement. Throws
     * when that write fails, so that the offset is not committed.
     */
    public void attempt(String service, ConsumerRecord<String, byte[]> record, Consumer<Order> effect)
            throws Exception {
        int attempt = attemptsBefore(record) + 1;
        JsonNode node = null;
        String failure;
        String topic = Topics.dlq(service);
        try {
            node = json.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .readTree(record.value() == null ? new byte[0] : record.value());
            Order order = Order.fromJson(node, false);
            failure = fault(order, attempt);
            if (failure == null) {
                effect.accept(order);
                return;
            }
            if (attempt < ATTEMPTS_MAX) {
                topic = Topics.retry(service);
            }
        } catch (IOException e) {
            failure = "not JSON"; // malformed: no attempt can succeed, so to the dlq at once
        } catch (Order.Malformed e) {
            failure = e.getMessage();
        }
        var copy = new ProducerRecord<>(topic, null, record.key(), record.value());
        copy.headers().add("attempts", Integer.toString(attempt).getBytes(StandardCharsets.UTF_8));
        copy.headers().add("error", failure.getBytes(StandardCharsets.UTF_8));
        // Waits for the acknowledgement: only then may the failed event's offset be committed.
        kafka.send(copy).get(30, TimeUnit.SECONDS);
        if (topic.equals(Topics.dlq(service))) {
            JsonNode id = node == null ? null : node.get("order_id");
            deadLetters.add(new DeadLetter(id != null && id.isTextual() ? id.textValue() : null,
                    failure, attempt));
        }
    }

    /** The attempts already made at this event: its {@code attempts} header, absent in orders. */
    private static int attemptsBefore(ConsumerRecord<String, byte[]> record) {
        Header header = record.headers().lastHeader("attempts");
        if (header == null || header.value() == null) {
            return 0;
        }
        try {
            return Integer.parseInt(new String(header.value(), StandardCharsets.UTF_8));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /**
     * The faults the test injects, as a real dependency would fail: a {@code flaky-} sku on its
     * first attempt only (a transient fault), a {@code broken-} sku on every attempt.
     */
    private static String fault(Order order, int attempt) {
        if (order.sku().startsWith("broken-")) {
            return order.sku() + " cannot be handled";
        }
        if (order.sku().startsWith("flaky-") && attempt == 1) {
            return order.sku() + " failed, transiently";
        }
        return null;
    }
}

package dev.vltava.shop;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.context.annotation.Profile;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * The notification service: "sends" each customer one message per order. What it sent is kept
 * in memory: an example, not a database (or a mail server).
 */
@RestController
@Profile("notification")
public class Notification {
    public record Message(String orderId, String customer, String text) {}

    private final Attempts attempts;
    /** The orders handled: the memory that makes handling idempotent. */
    private final Set<String> handled = new HashSet<>();
    private final Map<String, List<Message>> sent = new HashMap<>();

    Notification(Attempts attempts) {
        this.attempts = attempts;
    }

    /** The listener's id is the consumer group. Its container commits after each record. */
    @KafkaListener(id = "notification", topics = {Topics.ORDERS, "orders.notification.retry"})
    void onOrder(ConsumerRecord<String, byte[]> record) throws Exception {
        attempts.attempt("notification", record, this::send);
    }

    /** Sends once per order: a redelivered event finds its order_id handled. */
    synchronized void send(Order order) {
        if (!handled.add(order.orderId())) {
            return;
        }
        String text = "Order %s: %d x %s received".formatted(order.orderId(), order.quantity(), order.sku());
        sent.computeIfAbsent(order.customer(), customer -> new ArrayList<>())
                .add(new Message(order.orderId(), order.customer(), text));
    }

    @GetMapping("/notifications")
    synchronized List<Message> notifications(@RequestParam String customer) {
        return List.copyOf(sent.getOrDefault(customer, List.of()));
    }

    @GetMapping("/dlq")
    List<Attempts.DeadLetter> dlq() {
        return attempts.deadLetters();
    }

    @GetMapping("/health")
    Map<String, String> health() {
        return Map.of("status", "ok");
    }
}

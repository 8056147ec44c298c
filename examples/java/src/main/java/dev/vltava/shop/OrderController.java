package dev.vltava.shop;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.springframework.context.annotation.Profile;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.support.SendResult;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/** The order service: writes order events to {@code orders}. */
@RestController
@Profile("order")
public class OrderController {
    private final KafkaTemplate<String, byte[]> kafka;
    private final ObjectMapper json;

    OrderController(KafkaTemplate<String, byte[]> kafka, ObjectMapper json) {
        this.kafka = kafka;
        this.json = json;
    }

    /**
     * Answers 202 only once the broker acknowledged the event: Spring MVC completes the request
     * when the future from KafkaTemplate does, without holding a thread meanwhile.
     */
    @PostMapping("/orders")
    CompletableFuture<ResponseEntity<Map<String, Object>>> order(HttpServletRequest request)
            throws IOException {
        Order order;
        try {
            JsonNode node = json.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .readTree(body(request));
            order = Order.fromJson(node, true);
        } catch (IOException | Order.Malformed e) {
            String reason = e instanceof Order.Malformed ? e.getMessage() : "not JSON";
            return CompletableFuture.completedFuture(
                    ResponseEntity.badRequest().body(Map.of("error", reason)));
        }
        byte[] value = json.writeValueAsBytes(
                order.toJson(json.createObjectNode(), System.currentTimeMillis()));
        return answer(kafka.send(Topics.ORDERS, order.orderId(), value), order.orderId());
    }

    /** Writes the body unchanged and without a key: how the test injects a malformed event. */
    @PostMapping("/raw")
    CompletableFuture<ResponseEntity<Map<String, Object>>> raw(HttpServletRequest request)
            throws IOException {
        return answer(kafka.send(Topics.ORDERS, body(request)), null);
    }

    /** Healthy once the producer has the metadata of {@code orders}, so it reached the broker. */
    @GetMapping("/health")
    Map<String, String> health() {
        kafka.partitionsFor(Topics.ORDERS);
        return Map.of("status", "ok");
    }

    private static CompletableFuture<ResponseEntity<Map<String, Object>>> answer(
            CompletableFuture<SendResult<String, byte[]>> sent, String orderId) {
        return sent.thenApply(result -> {
            var metadata = result.getRecordMetadata();
            Map<String, Object> reply = new LinkedHashMap<>();
            if (orderId != null) {
                reply.put("order_id", orderId);
            }
            reply.put("partition", metadata.partition());
            reply.put("offset", metadata.offset());
            return ResponseEntity.status(HttpStatus.ACCEPTED).body(reply);
        }).exceptionally(error -> ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
                .body(Map.<String, Object>of("error", String.valueOf(error.getMessage()))));
    }

    /**
     * The raw body. Read from the stream, not with {@code @RequestBody}: curl's {@code -d} says
     * the body is a form, and Spring would hand over the form's parameters re-encoded instead.
     */
    private static byte[] body(HttpServletRequest request) throws IOException {
        return request.getInputStream().readAllBytes();
    }
}

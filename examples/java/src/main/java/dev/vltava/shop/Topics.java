package dev.vltava.shop;

import org.apache.kafka.clients.admin.NewTopic;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Profile;
import org.springframework.kafka.config.TopicBuilder;
import org.springframework.kafka.core.KafkaAdmin;

/**
 * The topics each service needs. Spring Boot's KafkaAdmin creates the missing ones at startup:
 * 3 partitions, and no replication factor, so the broker's default.
 */
@Configuration
public class Topics {
    public static final String ORDERS = "orders";

    public static String retry(String service) {
        return "orders." + service + ".retry";
    }

    public static String dlq(String service) {
        return "orders." + service + ".dlq";
    }

    @Bean
    NewTopic orders() {
        return TopicBuilder.name(ORDERS).partitions(3).build();
    }

    @Bean
    @Profile("inventory")
    KafkaAdmin.NewTopics inventoryTopics() {
        return failureTopics("inventory");
    }

    @Bean
    @Profile("notification")
    KafkaAdmin.NewTopics notificationTopics() {
        return failureTopics("notification");
    }

    private static KafkaAdmin.NewTopics failureTopics(String service) {
        return new KafkaAdmin.NewTopics(
                TopicBuilder.name(retry(service)).partitions(3).build(),
                TopicBuilder.name(dlq(service)).partitions(3).build());
    }
}

package dev.vltava.shop;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.util.backoff.FixedBackOff;

/** How the listener containers, configured by Spring Boot, treat a listener that throws. */
@Configuration
public class Listeners {
    /**
     * A listener throws only when writing to its retry or dlq topic failed. The event is then
     * attempted again every second until the broker takes the write, never skipped: Spring's
     * default handler would give up after 10 tries and commit the offset, losing the event.
     */
    @Bean
    DefaultErrorHandler errorHandler() {
        return new DefaultErrorHandler(new FixedBackOff(1000L, FixedBackOff.UNLIMITED_ATTEMPTS));
    }
}

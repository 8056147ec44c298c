package dev.vltava.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java producer with default settings (idempotence on, acks=all) and a plain assign()
 * consumer round-trip 10k keyed records with headers.
 *
 * <p>Guards against: InitProducerId and idempotent produce (producer id, epoch, sequence
 * numbers) rejected or mishandled, which with default settings fails every Java producer;
 * and records or headers changed, lost or reordered on the way back.
 */
class DefaultProducerRoundTripTest {
  private static final int RECORDS = 10_000;
  private static final int PARTITIONS = 3;
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(120);

  private static String bootstrap() {
    String fromProperty = System.getProperty("BOOTSTRAP");
    String bootstrap = fromProperty != null && !fromProperty.isEmpty() ? fromProperty : System.getenv("BOOTSTRAP");
    assertNotNull(bootstrap, "set BOOTSTRAP (system property or environment), e.g. 127.0.0.1:9092");
    return bootstrap;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void defaultIdempotentProducerRecordsReadBackInOrder() throws Exception {
    String topic = "java-default-producer-" + UUID.randomUUID();
    Properties adminProps = new Properties();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    try (Admin admin = Admin.create(adminProps)) {
      admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(60, TimeUnit.SECONDS);
    }

    Properties producerProps = new Properties();
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    List<Future<RecordMetadata>> sends = new ArrayList<>(RECORDS);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps)) {
      for (int i = 0; i < RECORDS; i++) {
        sends.add(producer.send(record(topic, i)));
      }
      producer.flush();
    }
    long[] nextOffset = new long[PARTITIONS];
    for (int i = 0; i < RECORDS; i++) {
      RecordMetadata metadata = sends.get(i).get(30, TimeUnit.SECONDS);
      assertEquals(i % PARTITIONS, metadata.partition());
      assertEquals(nextOffset[metadata.partition()]++, metadata.offset(), "offset of record " + i);
    }

    Properties consumerProps = new Properties();
    consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    List<List<ConsumerRecord<byte[], byte[]>>> got = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (int p = 0; p < PARTITIONS; p++) {
        partitions.add(new TopicPartition(topic, p));
        got.add(new ArrayList<>());
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
      int total = 0;
      while (total < RECORDS) {
        assertTrue(System.nanoTime() < deadline, "read " + total + " of " + RECORDS);
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          got.get(r.partition()).add(r);
          total++;
        }
      }
    }

    for (int p = 0; p < PARTITIONS; p++) {
      List<ConsumerRecord<byte[], byte[]>> records = got.get(p);
      for (int n = 0; n < records.size(); n++) {
        int i = n * PARTITIONS + p;
        ConsumerRecord<byte[], byte[]> actual = records.get(n);
        ProducerRecord<byte[], byte[]> expected = record(topic, i);
        assertEquals(n, actual.offset(), "offset in partition " + p);
        assertArrayEquals(expected.key(), actual.key(), "key of record " + i);
        assertArrayEquals(expected.value(), actual.value(), "value of record " + i);
        Header[] expectedHeaders = expected.headers().toArray();
        Header[] actualHeaders = actual.headers().toArray();
        assertEquals(expectedHeaders.length, actualHeaders.length, "headers of record " + i);
        for (int h = 0; h < expectedHeaders.length; h++) {
          assertEquals(expectedHeaders[h].key(), actualHeaders[h].key());
          assertArrayEquals(expectedHeaders[h].value(), actualHeaders[h].value());
        }
      }
      assertEquals(RECORDS / PARTITIONS + (p < RECORDS % PARTITIONS ? 1 : 0), records.size());
    }
  }

  private static ProducerRecord<byte[], byte[]> record(String topic, int i) {
    RecordHeaders headers = new RecordHeaders();
    headers.add("index", utf8(Integer.toString(i)));
    headers.add("empty", new byte[0]);
    if (i % 10 == 0) {
      headers.add("null", null);
    }
    byte[] value = i % 9 == 0 ? null : utf8("value-" + i + "-" + "x".repeat(i % 50));
    return new ProducerRecord<>(topic, i % PARTITIONS, utf8("key-" + i), value, headers);
  }
}

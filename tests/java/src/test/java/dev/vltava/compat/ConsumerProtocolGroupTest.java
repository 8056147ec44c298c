package dev.vltava.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java consumer with group.protocol=consumer (KIP-848): the broker assigns, members
 * reconcile incrementally. A second member joins and takes half the partitions, then leaves and
 * hands them back; every record is read exactly once in total; the Admin client describes the
 * group as a Stable consumer group with both members' assignments.
 *
 * <p>Guards against: ConsumerGroupHeartbeat answers the Java client cannot use, a partition
 * owned by two members during reconciliation, commits (OffsetCommit v9 with the member epoch)
 * refused as stale, and ConsumerGroupDescribe answers the Admin client cannot read.
 */
class ConsumerProtocolGroupTest {
  private static final int PARTITIONS = 4;
  private static final Duration POLL = Duration.ofMillis(100);
  // Kafka's default heartbeat interval is 5 s and each reconciliation step may wait for one.
  private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(60);
  private static final int MAX_ROUNDS = 100_000; // a backstop: every loop also has a deadline

  private static String bootstrap() {
    String fromProperty = System.getProperty("BOOTSTRAP");
    String bootstrap = fromProperty != null && !fromProperty.isEmpty() ? fromProperty : System.getenv("BOOTSTRAP");
    assertNotNull(bootstrap, "set BOOTSTRAP (system property or environment), e.g. 127.0.0.1:9092");
    return bootstrap;
  }

  /** A member that commits after every poll, so a partition it loses resumes where it stopped. */
  private static final class Member implements AutoCloseable {
    final KafkaConsumer<String, String> consumer;
    final List<String> read = new ArrayList<>();

    Member(String group, String topic) {
      Properties props = new Properties();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
      props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
      props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      consumer = new KafkaConsumer<>(props);
      consumer.subscribe(List.of(topic));
    }

    void poll() {
      var records = consumer.poll(POLL);
      for (ConsumerRecord<String, String> record : records) {
        read.add(record.partition() + "@" + record.offset());
      }
      if (!records.isEmpty()) {
        consumer.commitSync();
      }
    }

    Set<Integer> owned() {
      Set<Integer> owned = new HashSet<>();
      for (TopicPartition tp : consumer.assignment()) {
        owned.add(tp.partition());
      }
      return owned;
    }

    @Override
    public void close() {
      consumer.close(Duration.ofSeconds(30));
    }
  }

  private static void pollUntil(List<Member> members, BooleanSupplier done, String what) {
    long deadline = System.nanoTime() + SETTLE_TIMEOUT.toNanos();
    for (int round = 0; round < MAX_ROUNDS; round++) {
      if (done.getAsBoolean()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        List<Set<Integer>> owned = new ArrayList<>();
        members.forEach(m -> owned.add(m.owned()));
        fail(what + " not reached within " + SETTLE_TIMEOUT + "; owned " + owned);
      }
      members.forEach(Member::poll);
    }
    fail("poll rounds exhausted waiting for " + what);
  }

  private static boolean splitEvenly(List<Member> members) {
    Set<Integer> all = new HashSet<>();
    int total = 0;
    for (Member m : members) {
      Set<Integer> owned = m.owned();
      if (owned.size() != PARTITIONS / members.size()) {
        return false;
      }
      total += owned.size();
      all.addAll(owned);
    }
    return total == PARTITIONS && all.size() == PARTITIONS;
  }

  private static void produce(String topic, int from, int count) throws Exception {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    try (var producer = new KafkaProducer<String, String>(props)) {
      for (int i = from; i < from + count; i++) {
        producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
      }
      producer.flush();
    }
  }

  private static int totalRead(List<Member> members) {
    return members.stream().mapToInt(m -> m.read.size()).sum();
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void membersJoinAndLeaveWithIncrementalReconciliationAndReadEveryRecordOnce() throws Exception {
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String topic = "kip848-" + suffix;
    String group = "kip848-group-" + suffix;
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()))) {
      admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(30, TimeUnit.SECONDS);
      produce(topic, 0, 2_000);

      Member first = new Member(group, topic);
      List<Member> all = new ArrayList<>(List.of(first));
      try {
        pollUntil(List.of(first), () -> first.read.size() >= 2_000, "first member reads 2000");
        Member second = new Member(group, topic);
        all.add(second);
        List<Member> both = List.of(first, second);
        pollUntil(both, () -> splitEvenly(both), "two members split the partitions");

        ConsumerGroupDescription described =
            admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
        assertEquals(GroupType.CONSUMER, described.type());
        assertEquals(2, described.members().size());
        long assigned = described.members().stream()
            .mapToLong(m -> m.assignment().topicPartitions().size()).sum();
        assertEquals(PARTITIONS, assigned);
        assertTrue(described.groupState() == GroupState.STABLE
            || described.groupState() == GroupState.RECONCILING, "state " + described.groupState());

        produce(topic, 2_000, 2_000);
        pollUntil(both, () -> totalRead(all) >= 4_000, "the pair reads 4000");

        second.close();
        all.remove(second);
        List<Member> alone = List.of(first);
        pollUntil(alone, () -> first.owned().size() == PARTITIONS, "the first member owns all again");
        produce(topic, 4_000, 1_000);
        List<Member> readers = List.of(first);
        pollUntil(readers, () -> first.read.size() + second.read.size() >= 5_000, "5000 read in total");

        List<String> everything = new ArrayList<>(first.read);
        everything.addAll(second.read);
        assertEquals(5_000, everything.size(), "records read in total");
        assertEquals(5_000, new HashSet<>(everything).size(), "distinct records read");
      } finally {
        for (Member m : all) {
          m.close();
        }
      }
    }
  }
}

package dev.vltava.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java consumer with group.protocol=classic: two members share a 4-partition topic and
 * commit with commitSync; after both leave, a new member resumes at the committed offsets;
 * the Admin client lists, describes, reads the offsets of and deletes the group.
 *
 * <p>Guards against: partitions given to two members or to none, records lost or read twice
 * by the group, commits not visible to the next member, LeaveGroup ignored, and DescribeGroups,
 * ListGroups, OffsetFetch and DeleteGroups answers the Java Admin client cannot use.
 */
class ClassicConsumerGroupTest {
  private static final int PARTITIONS = 4;
  private static final int RECORDS = 4_000;
  private static final int MORE = 400;
  private static final Duration POLL = Duration.ofMillis(100);
  private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(90);
  private static final int MAX_ROUNDS = 100_000; // a backstop: every loop also has a deadline

  private static String bootstrap() {
    String fromProperty = System.getProperty("BOOTSTRAP");
    String bootstrap = fromProperty != null && !fromProperty.isEmpty() ? fromProperty : System.getenv("BOOTSTRAP");
    assertNotNull(bootstrap, "set BOOTSTRAP (system property or environment), e.g. 127.0.0.1:9092");
    return bootstrap;
  }

  /** One group member; records what it consumed and commits each poll's records at once. */
  private static final class Member implements AutoCloseable {
    final String name;
    final KafkaConsumer<String, String> consumer;
    final List<ConsumerRecord<String, String>> records = new ArrayList<>();

    Member(String name, String group, String topic) {
      this.name = name;
      Properties props = new Properties();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
      props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
      props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
      props.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-group-" + name);
      props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
      props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      consumer = new KafkaConsumer<>(props);
      consumer.subscribe(List.of(topic));
    }

    void poll() {
      Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
      for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
        records.add(r);
        next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
      }
      if (!next.isEmpty()) {
        consumer.commitSync(next, Duration.ofSeconds(30)); // before the next poll can rebalance
      }
    }

    Set<Integer> owned() {
      return consumer.assignment().stream().map(TopicPartition::partition).collect(Collectors.toSet());
    }

    @Override
    public void close() {
      consumer.close(Duration.ofSeconds(30));
    }
  }

  private static void drive(List<Member> members, BooleanSupplier done, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (int round = 0; round < MAX_ROUNDS; round++) {
      for (Member m : members) {
        m.poll();
      }
      if (done.getAsBoolean()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        break;
      }
    }
    Map<String, String> state = new HashMap<>();
    for (Member m : members) {
      state.put(m.name, "owns " + m.owned() + ", consumed " + m.records.size());
    }
    fail(what + ": not reached within " + timeout + ": " + state);
  }

  private static boolean splitBetween(List<Member> members) {
    Set<Integer> union = new HashSet<>();
    int total = 0;
    for (Member m : members) {
      Set<Integer> owned = m.owned();
      if (owned.isEmpty()) {
        return false;
      }
      union.addAll(owned);
      total += owned.size();
    }
    return total == union.size() && union.size() == PARTITIONS;
  }

  private static void produce(String topic, int from, int to) throws Exception {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
      for (int i = from; i < to; i++) {
        producer.send(new ProducerRecord<>(topic, i % PARTITIONS, "key-" + i, "value-" + i));
      }
      producer.flush();
    }
  }

  /** Every record of [from, to) (record i in partition i % PARTITIONS) consumed exactly once. */
  private static void assertExactlyOnce(List<ConsumerRecord<String, String>> records, int from, int to) {
    Map<String, Integer> seen = new HashMap<>();
    for (ConsumerRecord<String, String> r : records) {
      assertEquals(r.key().replace("key-", "value-"), r.value());
      assertTrue(seen.put(r.key(), r.partition()) == null, "consumed twice: " + r.key() + " at " + r.offset());
    }
    assertEquals(to - from, seen.size(), "records consumed");
    for (int i = from; i < to; i++) {
      assertEquals(i % PARTITIONS, seen.get("key-" + i), "partition of record " + i);
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void twoMembersShareCommitAndANewMemberResumesWhileAdminSeesTheGroup() throws Exception {
    String topic = "java-group-" + UUID.randomUUID();
    String group = topic + "-group";
    Properties adminProps = new Properties();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    try (Admin admin = Admin.create(adminProps)) {
      admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(60, TimeUnit.SECONDS);

      Map<Integer, Long> committed = new HashMap<>();
      Member a = new Member("a", group, topic);
      Member b = new Member("b", group, topic);
      List<Member> pair = List.of(a, b);
      try {
        // A stable group before any record exists: the commits below never race a rebalance.
        drive(pair, () -> splitBetween(pair), JOIN_TIMEOUT, "a and b share the partitions");
        Set<Integer> aOwned = a.owned();
        Set<Integer> bOwned = b.owned();
        produce(topic, 0, RECORDS);
        drive(pair, () -> a.records.size() + b.records.size() >= RECORDS, READ_TIMEOUT, RECORDS + " records");
        List<ConsumerRecord<String, String>> all = new ArrayList<>(a.records);
        all.addAll(b.records);
        assertExactlyOnce(all, 0, RECORDS);
        for (Member m : pair) {
          assertFalse(m.records.isEmpty(), m.name + " consumed nothing");
          Set<Integer> from = m.records.stream().map(ConsumerRecord::partition).collect(Collectors.toSet());
          assertTrue(m.owned().containsAll(from), m.name + " owns " + m.owned() + ", consumed from " + from);
        }
        assertEquals(aOwned, a.owned());
        assertEquals(bOwned, b.owned());
        for (int p = 0; p < PARTITIONS; p++) {
          committed.put(p, (long) RECORDS / PARTITIONS);
        }

        ConsumerGroupDescription stable = admin.describeConsumerGroups(List.of(group))
            .describedGroups().get(group).get(30, TimeUnit.SECONDS);
        assertEquals(GroupState.STABLE, stable.groupState());
        assertFalse(stable.isSimpleConsumerGroup());
        assertEquals("range", stable.partitionAssignor());
        Map<String, Member> byId = Map.of(
            a.consumer.groupMetadata().memberId(), a, b.consumer.groupMetadata().memberId(), b);
        assertEquals(byId.keySet(),
            stable.members().stream().map(MemberDescription::consumerId).collect(Collectors.toSet()));
        for (MemberDescription described : stable.members()) {
          Member m = byId.get(described.consumerId());
          assertEquals("java-group-" + m.name, described.clientId());
          assertEquals(m.consumer.assignment(), described.assignment().topicPartitions());
        }

        Map<String, GroupListing> listedStable = listGroups(admin, GroupState.STABLE);
        assertTrue(listedStable.containsKey(group), "not listed as Stable: " + listedStable.keySet());
        assertEquals(GroupState.STABLE, listedStable.get(group).groupState().orElseThrow());
        assertEquals("consumer", listedStable.get(group).protocol());
        assertFalse(listGroups(admin, GroupState.EMPTY).containsKey(group));

        assertEquals(committed, groupOffsets(admin, group));

        ExecutionException nonEmpty = assertThrows(ExecutionException.class,
            () -> admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(GroupNotEmptyException.class, nonEmpty.getCause());
      } finally {
        a.close();
        b.close();
      }

      // Both left (LeaveGroup on close): a newcomer owns everything and resumes at the commits.
      produce(topic, RECORDS, RECORDS + MORE);
      try (Member c = new Member("c", group, topic)) {
        List<Member> alone = List.of(c);
        drive(alone, () -> c.owned().size() == PARTITIONS && c.records.size() >= MORE, READ_TIMEOUT,
            "the newcomer consumes the new records");
        assertExactlyOnce(c.records, RECORDS, RECORDS + MORE);
        for (int p = 0; p < PARTITIONS; p++) {
          final int partition = p;
          long first = c.records.stream().filter(r -> r.partition() == partition)
              .mapToLong(ConsumerRecord::offset).min().orElseThrow();
          assertEquals(committed.get(p), first, "partition " + p + " resumed at");
        }
        Set<TopicPartition> every = new HashSet<>();
        for (int p = 0; p < PARTITIONS; p++) {
          every.add(new TopicPartition(topic, p));
        }
        Map<TopicPartition, OffsetAndMetadata> after = c.consumer.committed(every, Duration.ofSeconds(30));
        for (int p = 0; p < PARTITIONS; p++) {
          assertEquals((RECORDS + MORE) / PARTITIONS, after.get(new TopicPartition(topic, p)).offset());
        }
      }

      ConsumerGroupDescription empty = admin.describeConsumerGroups(List.of(group))
          .describedGroups().get(group).get(30, TimeUnit.SECONDS);
      assertEquals(GroupState.EMPTY, empty.groupState());
      assertTrue(empty.members().isEmpty());
      assertTrue(listGroups(admin, GroupState.EMPTY).containsKey(group));

      admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS);
      assertFalse(listGroups(admin, null).containsKey(group));
      assertTrue(groupOffsets(admin, group).isEmpty(), "offsets outlived their group");
      ExecutionException gone = assertThrows(ExecutionException.class,
          () -> admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS));
      assertInstanceOf(GroupIdNotFoundException.class, gone.getCause());
      // Kafka 4.4 answers the Java client (DescribeGroups v6) GROUP_ID_NOT_FOUND for an unknown group.
      ExecutionException unknown = assertThrows(ExecutionException.class,
          () -> admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(30, TimeUnit.SECONDS));
      assertInstanceOf(GroupIdNotFoundException.class, unknown.getCause());
    }
  }

  private static Map<String, GroupListing> listGroups(Admin admin, GroupState state) throws Exception {
    ListGroupsOptions options = ListGroupsOptions.forConsumerGroups();
    if (state != null) {
      options = options.inGroupStates(Set.of(state));
    }
    return admin.listGroups(options).all().get(30, TimeUnit.SECONDS).stream()
        .collect(Collectors.toMap(GroupListing::groupId, g -> g));
  }

  private static Map<Integer, Long> groupOffsets(Admin admin, String group) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> offsets =
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
    Map<Integer, Long> result = new HashMap<>();
    offsets.forEach((tp, om) -> result.put(tp.partition(), om.offset()));
    return result;
  }
}

package dev.vltava.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java AdminClient on topic configs: describeConfigs lists every topic config with its
 * source, an incremental SET shows as a dynamic topic config and an incremental DELETE brings the
 * default back, and unknown names or invalid values are refused with INVALID_CONFIG.
 *
 * <p>Guards against: a partial config list (tools and UIs show what the broker lists), sources
 * that lie about where a value comes from, DELETE that leaves the override in place, and bad
 * configs accepted silently. Kafka applies topic configs through its metadata log, so a change
 * is polled for (bounded) before it is asserted.
 */
class AdminConfigsTest {
  private static final Duration PROPAGATION = Duration.ofSeconds(30);

  private static String bootstrap() {
    String fromProperty = System.getProperty("BOOTSTRAP");
    String bootstrap = fromProperty != null && !fromProperty.isEmpty() ? fromProperty : System.getenv("BOOTSTRAP");
    assertNotNull(bootstrap, "set BOOTSTRAP (system property or environment), e.g. 127.0.0.1:9092");
    return bootstrap;
  }

  private static Admin admin() {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    return Admin.create(props);
  }

  private static ConfigEntry describe(Admin admin, ConfigResource topic, String name) throws Exception {
    Config config = admin.describeConfigs(List.of(topic)).all().get(30, TimeUnit.SECONDS).get(topic);
    return config.get(name);
  }

  /** Polls describeConfigs until the entry has the value and source (bounded). */
  private static ConfigEntry awaitEntry(Admin admin, ConfigResource topic, String name, String value,
      ConfigEntry.ConfigSource source) throws Exception {
    Instant deadline = Instant.now().plus(PROPAGATION);
    ConfigEntry entry = describe(admin, topic, name);
    while (!(value.equals(entry.value()) && entry.source() == source) && Instant.now().isBefore(deadline)) {
      Thread.sleep(100); // poll interval while the config propagates
      entry = describe(admin, topic, name);
    }
    return entry;
  }

  private static void alter(Admin admin, ConfigResource topic, AlterConfigOp op) throws Exception {
    Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(topic, List.of(op));
    admin.incrementalAlterConfigs(ops).all().get(30, TimeUnit.SECONDS);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void describeListsEveryConfigAndIncrementalSetAndDeleteMoveTheSource() throws Exception {
    String name = "admin-configs-" + UUID.randomUUID();
    ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, name);
    try (Admin admin = admin()) {
      admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);

      Config config = admin.describeConfigs(List.of(topic)).all().get(30, TimeUnit.SECONDS).get(topic);
      for (String expected : List.of("cleanup.policy", "retention.ms", "segment.bytes", "max.message.bytes",
          "min.insync.replicas", "message.timestamp.type", "delete.retention.ms", "compression.type")) {
        assertNotNull(config.get(expected), expected + " missing from describeConfigs");
      }
      assertTrue(config.entries().size() >= 30, "only " + config.entries().size() + " topic configs listed");
      ConfigEntry retention = config.get("retention.ms");
      assertEquals("604800000", retention.value());
      assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, retention.source());

      alter(admin, topic, new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET));
      ConfigEntry set = awaitEntry(admin, topic, "retention.ms", "3600000",
          ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
      assertEquals("3600000", set.value());
      assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, set.source());

      alter(admin, topic, new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE));
      ConfigEntry deleted = awaitEntry(admin, topic, "retention.ms", "604800000",
          ConfigEntry.ConfigSource.DEFAULT_CONFIG);
      assertEquals("604800000", deleted.value());
      assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, deleted.source());
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void unknownNamesAndInvalidValuesAreRefusedWithInvalidConfig() throws Exception {
    String name = "admin-configs-bad-" + UUID.randomUUID();
    ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, name);
    try (Admin admin = admin()) {
      admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
      for (ConfigEntry bad : List.of(new ConfigEntry("no.such.config", "1"),
          new ConfigEntry("retention.ms", "soon"), new ConfigEntry("cleanup.policy", "shred"))) {
        ExecutionException refused = assertThrows(ExecutionException.class,
            () -> alter(admin, topic, new AlterConfigOp(bad, AlterConfigOp.OpType.SET)), bad.name());
        assertInstanceOf(InvalidConfigurationException.class, refused.getCause(), bad.name());
      }
      NewTopic badTopic = new NewTopic(name + "-x", 1, (short) 1).configs(Map.of("retention.ms", "soon"));
      ExecutionException refused = assertThrows(ExecutionException.class,
          () -> admin.createTopics(List.of(badTopic)).all().get(30, TimeUnit.SECONDS));
      assertInstanceOf(InvalidConfigurationException.class, refused.getCause());
    }
  }
}

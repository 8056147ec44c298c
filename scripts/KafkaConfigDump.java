import org.apache.kafka.common.config.ConfigDef;
import java.util.*;
// Prints every topic and broker config Kafka defines (name, type, default, validator, broker
// synonyms, dynamic update mode of broker configs, documentation) as the TSV that crates/vltava-broker/src/configs/ reads.
// Run by scripts/gen-kafka-configs against the reference jars; Kafka is the spec.
public class KafkaConfigDump {
  static String clean(Object o) { return o == null ? "" : o.toString().replace("\t"," ").replace("\r"," ").replace("\n"," "); }
  public static void main(String[] a) throws Exception {
    ConfigDef topic = (ConfigDef) Class.forName("org.apache.kafka.storage.internals.log.LogConfig").getMethod("configDefCopy").invoke(null);
    ConfigDef broker = (ConfigDef) Class.forName("org.apache.kafka.server.config.AbstractKafkaConfig").getField("CONFIG_DEF").get(null);
    Map<?,?> syn = (Map<?,?>) Class.forName("org.apache.kafka.server.config.ServerTopicConfigSynonyms").getField("ALL_TOPIC_CONFIG_SYNONYMS").get(null);
    // read-only, per-broker or cluster-wide, as Kafka's docs print it ("Update Mode").
    Map<?,?> modes = (Map<?,?>) Class.forName("org.apache.kafka.server.config.DynamicBrokerConfig").getMethod("dynamicConfigUpdateModes").invoke(null);
    System.out.println("# scope\tname\ttype\tdefault\tvalid\tbroker_synonyms\tinternal\tupdate_mode\tdocumentation");
    for (ConfigDef.ConfigKey k : new TreeMap<>(topic.configKeys()).values()) {
      List<String> names = new ArrayList<>();
      Object l = syn.get(k.name);
      if (l != null) for (Object s : (List<?>) l) names.add((String) s.getClass().getMethod("name").invoke(s));
      row("topic", k, String.join(",", names), "");
    }
    for (ConfigDef.ConfigKey k : new TreeMap<>(broker.configKeys()).values()) row("broker", k, "", modes.containsKey(k.name) ? String.valueOf(modes.get(k.name)) : "read-only");
  }
  static void row(String scope, ConfigDef.ConfigKey k, String extra, String mode) {
    String dv = !k.hasDefault() ? "\\N" : k.defaultValue == null ? "\\null" : ConfigDef.convertToString(k.defaultValue, k.type);
    System.out.println(scope + "\t" + k.name + "\t" + k.type + "\t" + clean(dv) + "\t" + clean(k.validator) + "\t" + extra + "\t" + k.internalConfig + "\t" + mode + "\t" + clean(k.documentation));
  }
}

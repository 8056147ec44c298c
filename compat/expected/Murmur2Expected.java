// Regenerates murmur2-12.json with Kafka's own partitioner hash (the one the Java producer's
// BuiltInPartitioner uses for keyed records), so clients are compared with Java, not with a port:
//   CP=$(scripts/kafka-reference classpath); javac -d /tmp -cp "$CP" compat/expected/Murmur2Expected.java
//   java -cp "$CP:/tmp" Murmur2Expected > compat/expected/murmur2-12.json
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

public class Murmur2Expected {
  private static final int PARTITIONS = 12;
  private static final int KEYS = 100;

  public static void main(String[] args) {
    StringBuilder json = new StringBuilder("{\n");
    for (int i = 0; i < KEYS; i++) {
      String key = "key-" + i;
      int partition = Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
      json.append("  \"").append(key).append("\": ").append(partition).append(i + 1 < KEYS ? ",\n" : "\n");
    }
    System.out.print(json.append("}\n"));
  }
}

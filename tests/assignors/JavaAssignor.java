import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupAssignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractStickyAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The Java client's assignors on cases read from stdin. A case:
 *
 * <pre>
 * case ID
 * topic NAME PARTITIONS                                         (any number)
 * member ID INSTANCE|- GENERATION RACK|- T1,T2|- T:P,T:P|-      (any number)
 * end
 * </pre>
 *
 * For each case it prints {@code case ID}, then per assignor and member
 * {@code NAME MEMBER T:P,...|-} (or {@code error NAME MESSAGE} when the assignor throws), then
 * {@code end}. The assignors: {@code range}, {@code roundrobin}, {@code cooperative-sticky}, and
 * {@code balanced}: the same sticky algorithm without the cooperative adjustment (what
 * cooperative-sticky assigns before it withholds partitions that change owner). The
 * subscriptions map is a TreeMap (members in member-id order), and every assignor is a new
 * instance per case (the sticky assignors remember the highest generation seen).
 */
public final class JavaAssignor {
    /** AbstractStickyAssignor with the member data cooperative-sticky reads from a v2+ subscription. */
    static final class Balanced extends AbstractStickyAssignor {
        @Override
        public String name() {
            return "balanced";
        }

        @Override
        protected MemberData memberData(Subscription subscription) {
            return new MemberData(subscription.ownedPartitions(), subscription.generationId(), subscription.rackId());
        }
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // Results alone on stdout: whatever the assignors log goes to stderr.
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        System.setOut(System.err);
        List<Supplier<ConsumerPartitionAssignor>> assignors = Arrays.asList(
            RangeAssignor::new, RoundRobinAssignor::new, CooperativeStickyAssignor::new, Balanced::new);
        String id = null;
        List<PartitionInfo> partitions = new ArrayList<>();
        Map<String, Subscription> subscriptions = new TreeMap<>();
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            switch (f[0]) {
                case "case":
                    id = f[1];
                    partitions = new ArrayList<>();
                    subscriptions = new TreeMap<>();
                    break;
                case "topic":
                    for (int p = 0; p < Integer.parseInt(f[2]); p++) {
                        partitions.add(new PartitionInfo(f[1], p, Node.noNode(), new Node[0], new Node[0]));
                    }
                    break;
                case "member": {
                    List<String> topics = f[5].equals("-") ? Collections.emptyList() : Arrays.asList(f[5].split(","));
                    List<TopicPartition> owned = new ArrayList<>();
                    if (!f[6].equals("-")) {
                        for (String tp : f[6].split(",")) {
                            int colon = tp.lastIndexOf(':');
                            owned.add(new TopicPartition(tp.substring(0, colon), Integer.parseInt(tp.substring(colon + 1))));
                        }
                    }
                    Subscription s = new Subscription(topics, null, owned, Integer.parseInt(f[3]),
                        f[4].equals("-") ? Optional.empty() : Optional.of(f[4]));
                    if (!f[2].equals("-")) {
                        s.setGroupInstanceId(Optional.of(f[2]));
                    }
                    subscriptions.put(f[1], s);
                    break;
                }
                case "end": {
                    Cluster cluster = new Cluster("assignors", Collections.emptyList(), partitions,
                        Collections.emptySet(), Collections.emptySet());
                    out.write("case " + id);
                    out.newLine();
                    for (Supplier<ConsumerPartitionAssignor> make : assignors) {
                        ConsumerPartitionAssignor a = make.get();
                        try {
                            GroupAssignment ga = a.assign(cluster, new GroupSubscription(subscriptions));
                            for (Map.Entry<String, Assignment> e : new TreeMap<>(ga.groupAssignment()).entrySet()) {
                                StringBuilder sb = new StringBuilder();
                                for (TopicPartition tp : e.getValue().partitions()) {
                                    sb.append(sb.length() == 0 ? "" : ",").append(tp.topic()).append(':').append(tp.partition());
                                }
                                out.write(a.name() + " " + e.getKey() + " " + (sb.length() == 0 ? "-" : sb));
                                out.newLine();
                            }
                        } catch (RuntimeException e) {
                            out.write("error " + a.name() + " " + String.valueOf(e).replace('\n', ' '));
                            out.newLine();
                        }
                    }
                    out.write("end");
                    out.newLine();
                    break;
                }
                default:
                    throw new IllegalArgumentException("bad line: " + line);
            }
        }
        out.flush();
    }
}

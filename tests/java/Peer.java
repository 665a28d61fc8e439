// The Apache Kafka Java client (kafka-clients) as kafkac's reference interop peer.
//
// One long-lived JVM, driven over stdin/stdout by tests/interop_java.rs, so the suite
// pays JVM start-up once. Build and run:
//
//   javac -cp "<kafka libs>/*" -d <dir> tests/java/Peer.java
//   java -cp "<dir>:<kafka libs>/*" Peer
//
// PROTOCOL. Requests and replies are lines of UTF-8 text, fields separated by one space.
// A byte string is `-` when null, else `:` followed by its bytes in hex (so `:` alone is
// the empty string), as in tests/interop/clients.py. Header names travel the same way and
// are UTF-8 (the Java client models them as String).
//
// Every command gets exactly one terminating line, `ok ...` or `err <message>`, possibly
// after data lines (`consume`, `group-consume`, `produce-tx`). A failed command never ends the JVM;
// the next command is read as usual. Each command runs under a deadline
// (-Dkafkac.peer.deadline.ms, default 30000): past it the reply is
// `err timed out after <ms> ms` and the command's client is abandoned (its thread is
// interrupted and closes it). End of stdin ends the JVM, as `quit` does.
//
//   ping
//     -> ok java=<java version> kafka-clients=<kafka-clients version>
//
//   produce <bootstrap> <topic> <partition or -> <codec> <count>
//   <timestamp ms or -> <key> <value> [<header name> <header value>]...   (count lines)
//     Sends the records in order with a new KafkaProducer that has the client's default
//     settings (idempotent, linger.ms, batch.size, acks=all, ...) except for
//     compression.type = <codec> (none, gzip, snappy, lz4, zstd) and byte-array
//     serializers. Partition `-` leaves the choice to the default partitioner; a
//     timestamp `-` lets the producer stamp the record. Waits for every send.
//     -> ok <partition>:<offset> ...        (one per record, in order)
//     The record lines are always read, even when the command line is bad, so the
//     stream stays in step (unless <count> itself can't be read).
//
//   consume <bootstrap> <topic> <partition> <offset> <count>
//     Reads <count> records from <topic>/<partition> starting at <offset> with a new
//     KafkaConsumer (assign and seek, no group, auto.offset.reset=none).
//     -> rec <offset> <timestamp type> <timestamp> <key> <value> [<name> <value>]...
//        (count lines; timestamp type 0 create time, 1 log append time, -1 none)
//     -> ok <count>
//
//   partition-for <partitions> <key>...
//     The partition the producer's default partitioner picks for each (non-null) key
//     with a topic of <partitions> partitions:
//     Utils.toPositive(Utils.murmur2(key)) % partitions, as BuiltInPartitioner does (and
//     checked against BuiltInPartitioner.partitionForKey itself).
//     -> ok <partition> ...
//
//   murmur2 <key>...
//     -> ok <Utils.murmur2(key) as a signed 32-bit decimal> ...
//
//   group-consume <bootstrap> <group> <topic> <strategy> <protocol> <max records>
//   <idle ms> <commit> [<name>=<value>]...
//     A group member: a new KafkaConsumer with group.id=<group>, group.protocol=<protocol>
//     (classic or consumer), enable.auto.commit=false, auto.offset.reset=earliest and
//     byte-array deserializers, subscribed to <topic>. <strategy> with classic is the
//     partition.assignment.strategy (range, roundrobin, sticky, cooperative-sticky:
//     the Java assignor classes); with consumer it is group.remote.assignor (uniform,
//     range; `-` leaves the broker's default). Each <name>=<value> sets one more consumer
//     property (e.g. session.timeout.ms=6000) and wins over the above.
//     Polls until it has handed out <max records> (0: no limit) or until <idle ms> pass
//     without a record and without a change of assignment, counted from the first
//     assignment. <commit> `sync`: after each poll that returned records,
//     commitSync(the offsets after the records handed out, no further: with a limit the
//     rest of the poll is not handed out), also in onPartitionsRevoked for what is not
//     committed yet; `sync:<ms>`: the same, but after a poll only when the last commit
//     is <ms> or more old (so a member killed meanwhile leaves records uncommitted);
//     `none`: never commits. Then (commit sync) commits what is left and
//     closes the consumer (leaving the group).
//     Data lines are written AS THEY HAPPEN (flushed one by one), so a test can watch a
//     running member and kill its JVM:
//     -> assigned [<partition>]...       (the member's partitions of <topic> after each
//                                         change, ascending; none: `assigned`)
//     -> rec <partition> <offset> <value>  (each record handed out, in order)
//     -> committed <partition>:<next offset>...   (after each successful commit)
//     -> ok <records handed out>
//     Since a command blocks its JVM, a test runs each Java member that must be live at
//     the same time as others (kafkac consumers included) in a JVM of its own: one
//     JVM per concurrent member, which also lets a test SIGKILL exactly one member.
//
//   produce-tx <bootstrap> <topic> <transactional id>[,<id>...] <plan>[/<plan>...]
//   [<partition>]
//     Transactional KafkaProducers (one per id, default settings, byte-array
//     serializers) sending to <topic>/<partition> (default 0). A plan is a
//     comma-separated list of transactions, each `c<n>` (n records, committed) or
//     `a<n>` (n records, aborted): `c5,a3,c2`. With several ids there is one plan per id
//     (in the same order, separated by `/`) and the producers take turns record by
//     record, each waiting for its record's acknowledgement, so the transactions of
//     different ids overlap in the partition in a fixed order; a producer commits or
//     aborts a transaction as soon as its last record is acknowledged, and begins the
//     next one at its next turn. Record i (from 0) of transaction t (from 0) of id <id>
//     has key null and value `<id>/<t>/<c or a>/<i>` (UTF-8).
//     -> rec <partition> <offset> <value>   (each record, in send order)
//     -> ok <records sent>
//
//   quit
//     -> ok bye    (then the JVM exits)
//
// Anything the Java client logs goes to stderr: System.out is redirected to System.err
// before any Kafka class loads, and the replies use the original stdout.

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;

public final class Peer {
    private static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** A command's failure, reported as `err <message>`. */
    private static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String msg) {
            super(msg);
        }
    }

    /**
     * Where a command writes data lines as they happen (group-consume). Once the command
     * has ended (or was abandoned at its deadline), nothing more goes out, so the stream
     * stays in step.
     */
    private static final class Sink {
        private final Writer out;
        private boolean open = true;

        Sink(Writer out) {
            this.out = out;
        }

        void line(String l) throws Exception {
            synchronized (out) {
                if (open) {
                    out.write(l);
                    out.write('\n');
                    out.flush();
                }
            }
        }

        void close() {
            synchronized (out) {
                open = false;
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Writer out = new BufferedWriter(
                new OutputStreamWriter(new FileOutputStream(FileDescriptor.out), StandardCharsets.UTF_8),
                1 << 16);
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
        long deadlineMs = Long.getLong("kafkac.peer.deadline.ms", 30_000L);
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "peer-command");
            t.setDaemon(true);
            return t;
        });
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.isEmpty() ? new String[] {""} : line.split(" ", -1);
            List<String> reply;
            if (f[0].equals("quit")) {
                reply(out, List.of("ok bye"));
                break;
            }
            try {
                // Record lines are read here, before anything can fail, so the stream
                // stays in step.
                List<String> records = f[0].equals("produce") ? readRecordLines(in, f) : null;
                Sink sink = new Sink(out);
                Future<List<String>> job = pool.submit(() -> run(f, records, sink));
                try {
                    reply = job.get(deadlineMs, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    job.cancel(true);
                    reply = List.of("err timed out after " + deadlineMs + " ms: " + oneLine(line, 200));
                } catch (ExecutionException e) {
                    reply = List.of("err " + describe(e.getCause()));
                } finally {
                    sink.close();
                }
            } catch (Throwable t) {
                reply = List.of("err " + describe(t));
            }
            reply(out, reply);
        }
        out.flush();
        // Kafka clients abandoned at a deadline may hold non-daemon threads.
        System.exit(0);
    }

    private static void reply(Writer out, List<String> lines) throws Exception {
        synchronized (out) {
            for (String l : lines) {
                out.write(l);
                out.write('\n');
            }
            out.flush();
        }
    }

    private static List<String> readRecordLines(BufferedReader in, String[] f) throws Exception {
        if (f.length != 6) {
            throw new Failure("usage: produce <bootstrap> <topic> <partition or -> <codec> <count>");
        }
        int count = parseInt(f[5], "count");
        List<String> lines = new ArrayList<>(Math.max(0, count));
        for (int i = 0; i < count; i++) {
            String l = in.readLine();
            if (l == null) {
                throw new Failure("end of input after " + i + " of " + count + " record lines");
            }
            lines.add(l);
        }
        return lines;
    }

    private static List<String> run(String[] f, List<String> records, Sink sink) throws Exception {
        switch (f[0]) {
            case "ping":
                return List.of("ok java=" + System.getProperty("java.version")
                        + " kafka-clients=" + AppInfoParser.getVersion());
            case "produce":
                return produce(f, records);
            case "consume":
                return consume(f);
            case "partition-for":
                return partitionFor(f);
            case "murmur2":
                return murmur2(f);
            case "group-consume":
                return groupConsume(f, sink);
            case "produce-tx":
                return produceTx(f);
            default:
                throw new Failure("unknown command " + oneLine(f[0], 40)
                        + " (ping, produce, consume, partition-for, murmur2, group-consume,"
                        + " produce-tx, quit)");
        }
    }

    // -----------------------------------------------------------------------------------
    // produce
    // -----------------------------------------------------------------------------------

    private static List<String> produce(String[] f, List<String> recordLines) throws Exception {
        String bootstrap = f[1];
        String topic = f[2];
        Integer partition = f[3].equals("-") ? null : parseInt(f[3], "partition");
        String codec = f[4];
        if (!CODECS.contains(codec)) {
            throw new Failure("unknown codec " + oneLine(codec, 40) + " (" + String.join(", ", CODECS) + ")");
        }
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(recordLines.size());
        for (int i = 0; i < recordLines.size(); i++) {
            String[] r = recordLines.get(i).split(" ", -1);
            if (r.length < 3 || r.length % 2 == 0) {
                throw new Failure("record line " + i + ": want <timestamp> <key> <value> [<name> <value>]...");
            }
            Long ts = r[0].equals("-") ? null : Long.valueOf(parseLong(r[0], "timestamp"));
            List<Header> headers = new ArrayList<>();
            for (int h = 3; h < r.length; h += 2) {
                byte[] name = unhex(r[h]);
                if (name == null) {
                    throw new Failure("record line " + i + ": a header name can't be null");
                }
                headers.add(new RecordHeader(new String(name, StandardCharsets.UTF_8), unhex(r[h + 1])));
            }
            records.add(new ProducerRecord<>(topic, partition, ts, unhex(r[1]), unhex(r[2]), headers));
        }

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "kafkac-java-peer");
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> sent = new ArrayList<>(records.size());
            for (ProducerRecord<byte[], byte[]> r : records) {
                sent.add(producer.send(r));
            }
            producer.flush();
            StringBuilder sb = new StringBuilder("ok");
            for (int i = 0; i < sent.size(); i++) {
                RecordMetadata md;
                try {
                    md = sent.get(i).get();
                } catch (ExecutionException e) {
                    throw new Failure("record " + i + ": " + describe(e.getCause()));
                }
                sb.append(' ').append(md.partition()).append(':').append(md.offset());
            }
            return List.of(sb.toString());
        }
    }

    // -----------------------------------------------------------------------------------
    // consume
    // -----------------------------------------------------------------------------------

    private static List<String> consume(String[] f) throws Exception {
        if (f.length != 6) {
            throw new Failure("usage: consume <bootstrap> <topic> <partition> <offset> <count>");
        }
        String bootstrap = f[1];
        TopicPartition tp = new TopicPartition(f[2], parseInt(f[3], "partition"));
        long offset = parseLong(f[4], "offset");
        int count = parseInt(f[5], "count");
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkac-java-peer");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        p.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        List<String> lines = new ArrayList<>(count + 1);
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, offset);
            while (lines.size() < count) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new Failure("interrupted after " + lines.size() + " of " + count + " records");
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200)).records(tp)) {
                    if (lines.size() < count) {
                        lines.add(recordLine(r));
                    }
                }
            }
        }
        lines.add("ok " + count);
        return lines;
    }

    private static String recordLine(ConsumerRecord<byte[], byte[]> r) {
        int type = r.timestampType() == TimestampType.CREATE_TIME ? 0
                : r.timestampType() == TimestampType.LOG_APPEND_TIME ? 1 : -1;
        StringBuilder sb = new StringBuilder("rec ");
        sb.append(r.offset()).append(' ').append(type).append(' ').append(r.timestamp());
        sb.append(' ');
        hex(sb, r.key());
        sb.append(' ');
        hex(sb, r.value());
        for (Header h : r.headers()) {
            sb.append(' ');
            hex(sb, h.key().getBytes(StandardCharsets.UTF_8));
            sb.append(' ');
            hex(sb, h.value());
        }
        return sb.toString();
    }

    // -----------------------------------------------------------------------------------
    // group-consume
    // -----------------------------------------------------------------------------------

    private static final Map<String, String> ASSIGNORS = Map.of(
            "range", RangeAssignor.class.getName(),
            "roundrobin", RoundRobinAssignor.class.getName(),
            "sticky", StickyAssignor.class.getName(),
            "cooperative-sticky", CooperativeStickyAssignor.class.getName());

    private static List<String> groupConsume(String[] f, Sink sink) throws Exception {
        if (f.length < 9) {
            throw new Failure("usage: group-consume <bootstrap> <group> <topic> <strategy> <protocol>"
                    + " <max records> <idle ms> <commit: sync|none> [<name>=<value>]...");
        }
        String topic = f[3];
        String strategy = f[4];
        String protocol = f[5];
        int max = parseInt(f[6], "max records");
        long idleMs = parseLong(f[7], "idle ms");
        boolean commit = !f[8].equals("none");
        long commitEveryNs = 0;
        if (f[8].startsWith("sync:")) {
            commitEveryNs = parseLong(f[8].substring(5), "commit interval") * 1_000_000L;
        } else if (commit && !f[8].equals("sync")) {
            throw new Failure("bad commit " + oneLine(f[8], 40) + " (sync, sync:<ms>, none)");
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, f[1]);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, f[2]);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkac-java-peer");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        switch (protocol) {
            case "classic": {
                String cls = ASSIGNORS.get(strategy);
                if (cls == null) {
                    throw new Failure("unknown strategy " + oneLine(strategy, 40) + " ("
                            + String.join(", ", new TreeSet<>(ASSIGNORS.keySet())) + ")");
                }
                p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
                p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, cls);
                break;
            }
            case "consumer":
                p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
                if (!strategy.equals("-")) {
                    p.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, strategy);
                }
                break;
            default:
                throw new Failure("bad protocol " + oneLine(protocol, 40) + " (classic, consumer)");
        }
        for (int i = 9; i < f.length; i++) {
            int eq = f[i].indexOf('=');
            if (eq <= 0) {
                throw new Failure("bad property " + oneLine(f[i], 80) + " (want <name>=<value>)");
            }
            p.put(f[i].substring(0, eq), f[i].substring(eq + 1));
        }

        // The offsets after the records handed out, not committed yet.
        Map<TopicPartition, OffsetAndMetadata> pending = new HashMap<>();
        TreeSet<Integer> owned = new TreeSet<>();
        long[] lastChange = {0L}; // 0: not assigned yet
        long lastCommit = System.nanoTime();
        int handed = 0;
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
                private void changed() {
                    lastChange[0] = System.nanoTime();
                    StringBuilder sb = new StringBuilder("assigned");
                    for (int x : owned) {
                        sb.append(' ').append(x);
                    }
                    try {
                        sink.line(sb.toString());
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }

                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    if (commit) {
                        Map<TopicPartition, OffsetAndMetadata> now = new HashMap<>();
                        for (TopicPartition tp : tps) {
                            OffsetAndMetadata o = pending.remove(tp);
                            if (o != null) {
                                now.put(tp, o);
                            }
                        }
                        if (!now.isEmpty()) {
                            consumer.commitSync(now);
                            committedLine(sink, now);
                        }
                    }
                    drop(tps);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    for (TopicPartition tp : tps) {
                        pending.remove(tp);
                    }
                    drop(tps);
                }

                private void drop(Collection<TopicPartition> tps) {
                    boolean any = false;
                    for (TopicPartition tp : tps) {
                        any |= tp.topic().equals(topic) && owned.remove(tp.partition());
                    }
                    if (any) {
                        changed();
                    }
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    for (TopicPartition tp : tps) {
                        if (tp.topic().equals(topic)) {
                            owned.add(tp.partition());
                        }
                    }
                    changed();
                }
            };
            consumer.subscribe(List.of(topic), listener);
            while (max == 0 || handed < max) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new Failure("interrupted after " + handed + " records");
                }
                ConsumerRecords<byte[], byte[]> rs = consumer.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    if (max != 0 && handed >= max) {
                        break;
                    }
                    StringBuilder sb = new StringBuilder("rec ");
                    sb.append(r.partition()).append(' ').append(r.offset()).append(' ');
                    hex(sb, r.value());
                    sink.line(sb.toString());
                    pending.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    handed++;
                    lastChange[0] = System.nanoTime();
                }
                if (commit && !pending.isEmpty() && System.nanoTime() - lastCommit >= commitEveryNs) {
                    Map<TopicPartition, OffsetAndMetadata> now = new HashMap<>(pending);
                    try {
                        consumer.commitSync(now);
                        lastCommit = System.nanoTime();
                        pending.keySet().removeAll(now.keySet());
                        committedLine(sink, now);
                    } catch (RebalanceInProgressException e) {
                        // Committed by onPartitionsRevoked in the next poll, or again after it.
                    }
                }
                if (lastChange[0] != 0 && System.nanoTime() - lastChange[0] >= idleMs * 1_000_000L) {
                    break;
                }
            }
            if (commit && !pending.isEmpty()) {
                Map<TopicPartition, OffsetAndMetadata> now = new HashMap<>(pending);
                consumer.commitSync(now);
                pending.clear();
                committedLine(sink, now);
            }
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)));
        }
        return List.of("ok " + handed);
    }

    private static void committedLine(Sink sink, Map<TopicPartition, OffsetAndMetadata> offsets) {
        StringBuilder sb = new StringBuilder("committed");
        new TreeMap<>(offsets.entrySet().stream().collect(
                java.util.stream.Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset())))
                .forEach((part, off) -> sb.append(' ').append(part).append(':').append(off));
        try {
            sink.line(sb.toString());
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    // -----------------------------------------------------------------------------------
    // produce-tx
    // -----------------------------------------------------------------------------------

    private static List<String> produceTx(String[] f) throws Exception {
        if (f.length != 5 && f.length != 6) {
            throw new Failure("usage: produce-tx <bootstrap> <topic> <transactional id>[,<id>...]"
                    + " <plan>[/<plan>...] [<partition>]");
        }
        String topic = f[2];
        String[] ids = f[3].split(",", -1);
        String[] plans = f[4].split("/", -1);
        if (plans.length != ids.length) {
            throw new Failure(ids.length + " transactional ids but " + plans.length + " plans");
        }
        int partition = f.length == 6 ? parseInt(f[5], "partition") : 0;
        // Per id: the transactions as record counts, negative for an abort.
        List<int[]> steps = new ArrayList<>();
        for (String plan : plans) {
            String[] ts = plan.split(",", -1);
            int[] st = new int[ts.length];
            for (int i = 0; i < ts.length; i++) {
                String t = ts[i];
                if (t.length() < 2 || (t.charAt(0) != 'c' && t.charAt(0) != 'a')) {
                    throw new Failure("bad plan step " + oneLine(t, 40) + " (want c<n> or a<n>)");
                }
                int n = parseInt(t.substring(1), "plan step count");
                if (n < 0) {
                    throw new Failure("bad plan step " + oneLine(t, 40));
                }
                st[i] = t.charAt(0) == 'c' ? n : -n - 1;
            }
            steps.add(st);
        }
        List<KafkaProducer<byte[], byte[]>> producers = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        try {
            for (String id : ids) {
                Properties p = new Properties();
                p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, f[1]);
                p.put(ProducerConfig.CLIENT_ID_CONFIG, "kafkac-java-peer-" + id);
                p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
                KafkaProducer<byte[], byte[]> producer =
                        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
                producers.add(producer);
                producer.initTransactions();
            }
            int[] step = new int[ids.length];
            int[] sent = new int[ids.length];
            boolean[] open = new boolean[ids.length];
            boolean busy = true;
            while (busy) {
                busy = false;
                for (int k = 0; k < ids.length; k++) {
                    int[] st = steps.get(k);
                    if (step[k] >= st.length) {
                        continue;
                    }
                    busy = true;
                    if (Thread.currentThread().isInterrupted()) {
                        throw new Failure("interrupted after " + lines.size() + " records");
                    }
                    KafkaProducer<byte[], byte[]> producer = producers.get(k);
                    boolean commits = st[step[k]] >= 0;
                    int n = commits ? st[step[k]] : -st[step[k]] - 1;
                    if (!open[k]) {
                        producer.beginTransaction();
                        open[k] = true;
                    }
                    if (sent[k] < n) {
                        String value = ids[k] + "/" + step[k] + "/" + (commits ? "c" : "a") + "/" + sent[k];
                        RecordMetadata md = producer.send(new ProducerRecord<>(topic, partition, null,
                                value.getBytes(StandardCharsets.UTF_8))).get();
                        StringBuilder sb = new StringBuilder("rec ");
                        sb.append(md.partition()).append(' ').append(md.offset()).append(' ');
                        hex(sb, value.getBytes(StandardCharsets.UTF_8));
                        lines.add(sb.toString());
                        sent[k]++;
                    }
                    if (sent[k] == n) {
                        if (commits) {
                            producer.commitTransaction();
                        } else {
                            producer.abortTransaction();
                        }
                        open[k] = false;
                        sent[k] = 0;
                        step[k]++;
                    }
                }
            }
        } finally {
            for (KafkaProducer<byte[], byte[]> producer : producers) {
                producer.close(Duration.ofSeconds(10));
            }
        }
        lines.add("ok " + lines.size());
        return lines;
    }

    // -----------------------------------------------------------------------------------
    // partition-for, murmur2
    // -----------------------------------------------------------------------------------

    private static List<String> partitionFor(String[] f) throws Exception {
        if (f.length < 2) {
            throw new Failure("usage: partition-for <partitions> <key>...");
        }
        int n = parseInt(f[1], "partitions");
        if (n <= 0) {
            throw new Failure("partitions must be > 0, got " + n);
        }
        StringBuilder sb = new StringBuilder("ok");
        for (int i = 2; i < f.length; i++) {
            byte[] key = unhex(f[i]);
            if (key == null) {
                throw new Failure("key " + (i - 2) + " is null: the default partitioner has no fixed "
                        + "partition for a null key");
            }
            int p = Utils.toPositive(Utils.murmur2(key)) % n;
            int builtIn = BuiltInPartitioner.partitionForKey(key, n);
            if (p != builtIn) {
                throw new Failure("key " + (i - 2) + ": murmur2 formula gives " + p
                        + ", BuiltInPartitioner.partitionForKey " + builtIn);
            }
            sb.append(' ').append(p);
        }
        return List.of(sb.toString());
    }

    private static List<String> murmur2(String[] f) throws Exception {
        StringBuilder sb = new StringBuilder("ok");
        for (int i = 1; i < f.length; i++) {
            byte[] key = unhex(f[i]);
            if (key == null) {
                throw new Failure("key " + (i - 1) + " is null");
            }
            sb.append(' ').append(Utils.murmur2(key));
        }
        return List.of(sb.toString());
    }

    // -----------------------------------------------------------------------------------
    // Fields and messages
    // -----------------------------------------------------------------------------------

    private static byte[] unhex(String s) throws Failure {
        if (s.equals("-")) {
            return null;
        }
        if (!s.startsWith(":") || s.length() % 2 != 1) {
            throw new Failure("bad byte field " + oneLine(s, 40) + " (want - or :<hex>)");
        }
        byte[] b = new byte[(s.length() - 1) / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(s.charAt(1 + 2 * i), 16);
            int lo = Character.digit(s.charAt(2 + 2 * i), 16);
            if (hi < 0 || lo < 0) {
                throw new Failure("bad hex in byte field " + oneLine(s, 40));
            }
            b[i] = (byte) (hi << 4 | lo);
        }
        return b;
    }

    private static void hex(StringBuilder sb, byte[] b) {
        if (b == null) {
            sb.append('-');
            return;
        }
        sb.append(':');
        for (byte x : b) {
            sb.append(HEX[(x >> 4) & 15]).append(HEX[x & 15]);
        }
    }

    private static int parseInt(String s, String what) throws Failure {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new Failure("bad " + what + " " + oneLine(s, 40));
        }
    }

    private static long parseLong(String s, String what) throws Failure {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new Failure("bad " + what + " " + oneLine(s, 40));
        }
    }

    /** The exception and its causes, on one line. */
    private static String describe(Throwable t) {
        if (t instanceof Failure) {
            return oneLine(t.getMessage(), 2000);
        }
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null && sb.length() < 2000; c = c.getCause()) {
            if (sb.length() > 0) {
                sb.append(" <- ");
            }
            sb.append(c.getClass().getName());
            if (c.getMessage() != null) {
                sb.append(": ").append(c.getMessage());
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return oneLine(sb.toString(), 2000);
    }

    private static String oneLine(String s, int max) {
        String t = s == null ? "null" : s.replace('\r', ' ').replace('\n', ' ');
        return t.length() > max ? t.substring(0, max) + "..." : t;
    }
}

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
// after data lines (only `consume` has data lines). A failed command never ends the JVM;
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
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
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
                Future<List<String>> job = pool.submit(() -> run(f, records));
                try {
                    reply = job.get(deadlineMs, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    job.cancel(true);
                    reply = List.of("err timed out after " + deadlineMs + " ms: " + oneLine(line, 200));
                } catch (ExecutionException e) {
                    reply = List.of("err " + describe(e.getCause()));
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
        for (String l : lines) {
            out.write(l);
            out.write('\n');
        }
        out.flush();
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

    private static List<String> run(String[] f, List<String> records) throws Exception {
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
            default:
                throw new Failure("unknown command " + oneLine(f[0], 40)
                        + " (ping, produce, consume, partition-for, murmur2, quit)");
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

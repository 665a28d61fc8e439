import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;

/**
 * The Java client's partition for each key: reads keys (hex, one a line; an empty line is
 * the empty key) on stdin and prints, per key, {@code Utils.murmur2(key)} and then, for
 * each partition count given as an argument, {@code Utils.toPositive(Utils.murmur2(key)) %
 * n} and {@code BuiltInPartitioner.partitionForKey(key, n)} (the default partitioner's
 * choice for a keyed record), space separated.
 */
public final class JavaPartition {
    public static void main(String[] args) throws Exception {
        int[] counts = new int[args.length];
        for (int i = 0; i < args.length; i++) {
            counts[i] = Integer.parseInt(args[i]);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.US_ASCII));
        String line;
        while ((line = in.readLine()) != null) {
            byte[] key = unhex(line);
            StringBuilder sb = new StringBuilder();
            sb.append(Utils.murmur2(key));
            for (int n : counts) {
                sb.append(' ').append(Utils.toPositive(Utils.murmur2(key)) % n);
                sb.append(' ').append(BuiltInPartitioner.partitionForKey(key, n));
            }
            out.write(sb.toString());
            out.newLine();
        }
        out.flush();
    }

    private static byte[] unhex(String s) {
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd hex length: " + s);
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}

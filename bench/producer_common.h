/*
 * What producer_bench.c (kafkac) and rdkafka_producer_bench.c (librdkafka) share beyond
 * bench_common.h: the payloads, so both clients send the same bytes.
 */
#ifndef KAFKAC_BENCH_PRODUCER_COMMON_H
#define KAFKAC_BENCH_PRODUCER_COMMON_H
#include "bench_common.h"

/* The payloads. fixed: one <size>-byte string of letters from a xorshift sequence, the
 * same in every message (a batch of them compresses almost to nothing). text: message i
 * is the <size> bytes at offset i*size of a 4 MiB text of words drawn from a vocabulary
 * of 256 (about as compressible as log lines), so a batch holds text that does not
 * repeat. */
#define TEXT_BYTES (4u << 20)
static uint32_t xs = 2463534242u;
static uint32_t xorshift(void) {
    xs ^= xs << 13;
    xs ^= xs >> 17;
    xs ^= xs << 5;
    return xs;
}

static uint8_t *make_payload(int text, long size, size_t *len) {
    uint8_t *b;
    size_t i = 0, n = text ? TEXT_BYTES + (size_t)size : (size_t)size + 1;
    if (!text) {
        b = malloc(n);
        for (i = 0; i < (size_t)size; i++)
            b[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789"[xorshift() % 36]);
    } else {
        char words[256][10];
        int w, k;
        for (w = 0; w < 256; w++) {
            int wl = 2 + (int)(xorshift() % 8);
            for (k = 0; k < wl; k++)
                words[w][k] = "abcdefghijklmnopqrstuvwxyz"[xorshift() % 26];
            words[w][wl] = 0;
        }
        b = malloc(n);
        while (i < n) {
            const char *word = words[xorshift() % 256];
            for (k = 0; word[k] && i < n; k++)
                b[i++] = (uint8_t)word[k];
            if (i < n)
                b[i++] = ' ';
        }
    }
    *len = n;
    return b;
}

/* Message i's payload. */
static const uint8_t *payload_of(const uint8_t *b, size_t len, long size, long i) {
    if (len <= (size_t)size + 1)
        return b;
    return b + ((size_t)i * (size_t)size) % (len - (size_t)size);
}

#endif

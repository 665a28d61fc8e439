/*
 * What the benchmark programs of both clients share: clocks, and CPU and peak RSS of the
 * process and of its threads, so kafkac and librdkafka are measured the same way.
 * Included once, after the including file defines NAME (the client's name in the output
 * lines).
 */
#ifndef KAFKAC_BENCH_COMMON_H
#define KAFKAC_BENCH_COMMON_H
#include <stdint.h>

static inline uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double now(void) { return (double)mono_ns() / 1e9; }

/* CPU time of the calling thread, in nanoseconds. */
static inline double thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Peak RSS of this program, in KiB: VmHWM from /proc/self/status. Not ru_maxrss: Linux
 * keeps that across execve, so a child of a larger process (python) reports its
 * parent's peak. */
static inline long peak_rss_kib(void) {
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %ld", &kib) == 1)
                break;
        fclose(f);
    }
    if (kib < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kib = ru.ru_maxrss;
    }
    return kib;
}

static inline double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Prints "<NAME> threads name=cpu ..." for every thread of this process (user+system
 * seconds since it started, from /proc/self/task); threads of the same name are summed. */
static inline void print_threads(void) {
    char names[64][32];
    double secs[64];
    int n = 0, i;
    long tick = sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[32] = {0}, stat[1024];
        FILE *f;
        size_t len;
        unsigned long ut = 0, st = 0;
        char *p;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n ")] = 0;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        len = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[len] = 0;
        /* After the command name (ends at the last ')'): utime is field 14, stime 15. */
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            continue;
        for (i = 0; i < n && strcmp(names[i], comm) != 0; i++)
            ;
        if (i == n) {
            if (n == 64)
                continue;
            snprintf(names[n], sizeof names[n], "%s", comm);
            secs[n++] = 0;
        }
        secs[i] += (double)(ut + st) / (double)tick;
    }
    closedir(d);
    printf(NAME " threads");
    for (i = 0; i < n; i++)
        printf(" %s=%.2f", names[i], secs[i]);
    printf("\n");
}

#endif

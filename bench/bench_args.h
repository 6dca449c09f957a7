/* bench_args.h — command-line helpers shared by the benchmark programs. */
#ifndef MG_BENCH_ARGS_H
#define MG_BENCH_ARGS_H

#include <stdlib.h>
#include <string.h>

/* "1,2,4" -> out[] = {1, 2, 4}; at most max values; returns how many. */
static inline int bench_parse_int_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c)
            break;
        s = c + 1;
    }
    return n;
}

#endif

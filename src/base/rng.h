/* rng.h — seeded pseudo-random numbers (xoshiro256**, seeded through splitmix64).
 * Same seed => same sequence on every platform; used by the sampler and by tests. */
#ifndef MG_BASE_RNG_H
#define MG_BASE_RNG_H

#include <stdint.h>

typedef struct mg_rng {
    uint64_t s[4];
} mg_rng;

void mg_rng_seed(mg_rng *r, uint64_t seed);
uint64_t mg_rng_next(mg_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double mg_rng_uniform(mg_rng *r);
/* Standard normal (Box-Muller). */
double mg_rng_normal(mg_rng *r);
/* A seed from the clock and process id, for "random seed" defaults. */
uint64_t mg_rng_entropy_seed(void);

#endif

/*
 * flow_key.c: canonical bidirectional flow keys and their hash.
 * See flow_key.h for why the key is ordered instead of hashed symmetrically.
 */
#include "flow/flow_key.h"

#include <string.h>

/* splitmix64's step: spreads one seed over the secret's six words. */
static uint64_t flow_hash_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void flow_hash_secret_init(struct flow_hash_secret *s, uint64_t seed)
{
    for (unsigned i = 0; i < 6; i++)
        s->k[i] = flow_hash_splitmix(&seed);
}

uint64_t flow_key_hash(const struct flow_key *key, uint64_t seed)
{
    struct flow_hash_secret s;

    flow_hash_secret_init(&s, seed);
    return flow_key_hash_with(key, &s);
}

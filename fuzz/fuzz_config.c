/* fuzz_config.c — libFuzzer entry point for config.json / generation_config.json
 * parsing (src/io/config.c). The bytes are parsed as a config.json; when that
 * succeeds, mg_config_to_json must produce JSON that parses back to the same
 * config (trap otherwise). They are also parsed as a generation_config.json
 * against a fixed valid config.
 *
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS config`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "io/config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_config[] =
    "{\"model_type\":\"musicgen\",\"text_encoder\":{\"model_type\":\"t5\",\"vocab_size\":8192,\"d_model\":32,"
    "\"d_kv\":8,\"num_heads\":4,\"d_ff\":64,\"num_layers\":2},\"audio_encoder\":{\"model_type\":\"encodec\","
    "\"sampling_rate\":32000,\"num_filters\":4,\"hidden_size\":16,\"codebook_size\":64,\"kernel_size\":7,"
    "\"last_kernel_size\":7,\"residual_kernel_size\":3,\"num_residual_layers\":1,\"num_lstm_layers\":2,"
    "\"upsampling_ratios\":[8,5,4,4],\"target_bandwidths\":[2.2],\"use_conv_shortcut\":false,\"use_causal_conv\":false},\"decoder\":{\"model_type\":\"musicgen_decoder\","
    "\"vocab_size\":64,\"hidden_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"ffn_dim\":64,"
    "\"num_codebooks\":4,\"max_position_embeddings\":512}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_config a;
    if (mg_config_parse((const char *)data, size, "fuzz/config.json", &a) == MG_OK) {
        char *json = mg_config_to_json(&a);
        if (!json)
            __builtin_trap();
        mg_config b;
        if (mg_config_parse(json, strlen(json), "round-trip", &b) != MG_OK)
            __builtin_trap();
        if (memcmp(&a.t5, &b.t5, sizeof a.t5) || memcmp(&a.codec, &b.codec, sizeof a.codec) ||
            memcmp(&a.dec, &b.dec, sizeof a.dec) || strcmp(a.name_or_path, b.name_or_path))
            __builtin_trap();
        free(json);
    }
    mg_config c;
    if (mg_config_parse(base_config, sizeof base_config - 1, "base", &c) != MG_OK)
        __builtin_trap();
    if (mg_generation_config_parse((const char *)data, size, "fuzz/generation_config.json", &c) == MG_OK) {
        char *json = mg_generation_config_to_json(&c);
        if (!json)
            __builtin_trap();
        mg_config d = c;
        if (mg_generation_config_parse(json, strlen(json), "round-trip", &d) != MG_OK ||
            memcmp(&c.gen, &d.gen, sizeof c.gen))
            __builtin_trap();
        free(json);
    }
    return 0;
}

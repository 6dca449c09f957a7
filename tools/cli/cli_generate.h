/* cli_generate.h — the generate command's options and its two phases: validate
 * (every check that can fail before generation starts) and run (load, generate,
 * write). Split from option parsing so each file stays small. */
#ifndef MG_CLI_GENERATE_H
#define MG_CLI_GENERATE_H

#include "cli.h"

#include <signal.h>

typedef struct gen_options {
    const char *model, *output, *codes_out, *audio_prompt, *prompts_file, *negative;
    char **prompts;
    int n_prompts;
    double duration;
    int duration_set, steps, threads, top_k, force, json, loudness, peak_normalize, stream, raw, seed_set;
    /* < 0 until set: greedy by --greedy (1), by a sampling option (0), else by the
     * model's generation_config.json; top_p and temperature likewise from the model */
    int greedy;
    double top_p, temperature, cfg, target_lufs, window, stride;
    uint64_t seed;
    mg_sample_format sample_format;
    int sample_format_set; /* --sample-format given */
    const char *audio_ext; /* --audio-format: the extension of files named in a folder */
    int audio_ext_set;
    mg_kv_type kv_type;
    int kv_type_set; /* --kv-type given (else f16, or f32 for greedy runs) */
    mg_weight_type weight_type; /* --weight-type; AUTO when not given (f32 matrices then load as f16
                                   unless greedy) */
    int no_mmap; /* --no-mmap */
    /* progress wiring from cmd_generate.c */
    mg_progress_cb progress;
    void *progress_user;
    float *progress_state_frame_rate;
    int *progress_state_delays;
    volatile sig_atomic_t *interrupted;
    /* planned outputs */
    char **out_paths; /* one per prompt, NULL when no audio is written */
    const char *out_dir; /* the output folder, when -o names one (or is absent) */
    char *created_dir; /* output folder this run created (removed again if left empty) */
    int created_levels; /* how many folders of created_dir it made (mkdir -p) */
    /* the model's generation defaults (for the files' tags) */
    double model_cfg;
    int model_top_k;
    char model_weights[96]; /* the decoder weights as loaded ("f16", "q8_0 (+ f32 ...)") */
} gen_options;

void gen_options_init(gen_options *o);
void gen_options_free(gen_options *o);
int gen_validate(gen_options *o);
int gen_run(gen_options *o);

#endif

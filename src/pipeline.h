/* pipeline.h — internal pieces of mg_generate shared by its files: text
 * conditioning (tokenize + T5 for a batch, plus the unconditional / negative rows),
 * the generation plan (steps, frames, samples from duration or steps), and the
 * audio stage (audio prompt -> codes, codes -> audio). */
#ifndef MG_PIPELINE_H
#define MG_PIPELINE_H

#include "model.h"
#include "lm/decoder.h"
#include "lm/sampler.h"

/* Decoder cross-attention inputs for B items: rows [cond; uncond] when use_cfg. */
typedef struct mg_conditioning {
    int B, rows, S, use_cfg;
    float guidance;
    float *states; /* [rows][S][D] */
    int32_t *mask; /* [rows][S] */
} mg_conditioning;

mg_status mg_condition_text(mg_context *ctx, const char *const *prompts, int B, const char *negative, float guidance,
                            mg_conditioning *out);
void mg_conditioning_free(mg_conditioning *c);

/* How much to generate. With --steps: one decoder run of exactly `steps` steps. With
 * a duration: `frames` output frames (prompt included) made window by window: each
 * window holds at most window_frames frames, the first continues the audio prompt
 * (if any), every later one is prompted with the last window_frames - stride_frames
 * frames of the previous one (audiocraft's extend_stride). One window when it fits. */
typedef struct mg_plan {
    int P;              /* audio-prompt frames */
    int steps;          /* decoder steps, all windows together */
    int frames;         /* output frames (prompt included) */
    int64_t n_samples;  /* output samples per channel after trimming */
    int fixed_steps;    /* 1: --steps mode (one run) */
    int flat;           /* fixed steps too few for the delay pattern: none is applied */
    int window_frames, stride_frames, n_windows;
} mg_plan;

mg_status mg_plan_make(const mg_model *m, const mg_generate_params *gp, int64_t prompt_samples, int P, mg_plan *out);

/* Audio while generating (pipeline_stream.c): frames go in as they become final,
 * interleaved PCM chunks come out through the callback and are kept as the result. */
typedef struct mg_streamer mg_streamer;
mg_status mg_streamer_new(mg_context *ctx, mg_audio_cb cb, void *user, int B, int64_t limit, mg_streamer **out);
/* Frames [already pushed, upto) of codes [B][K][F] are final. */
mg_status mg_streamer_push(mg_streamer *s, const int64_t *codes, int F, int upto);
/* All F frames are final: push the rest, flush the decoders. */
mg_status mg_streamer_finish(mg_streamer *s, const int64_t *codes, int F);
/* The delivered audio, [B] buffers of limit * channels samples (caller frees). */
float **mg_streamer_take_audio(mg_streamer *s);
void mg_streamer_free(mg_streamer *s);

/* Codes [B][K][plan->frames] for the conditioning, window by window (see mg_plan).
 * With a streamer, frames are pushed to it as soon as they are final. The decoder's
 * time per part (all windows) is added to *times. */
mg_status mg_generate_codes(mg_context *ctx, const mg_conditioning *cond, const int64_t *prompt, const mg_plan *plan,
                            const mg_sampler *smp, uint64_t seed, mg_progress_cb progress, void *user,
                            mg_streamer *streamer, int64_t **codes, mg_dec_times *times);

/* Audio prompt -> codes [K][*P] in the decoder's order (stereo interleaved). */
mg_status mg_audio_prompt_codes(mg_context *ctx, const mg_generate_params *gp, int64_t **codes, int *P,
                                int64_t *prompt_samples);
/* codes [K][F] of one item -> interleaved PCM [F*hop][channels] (malloc'ed); stops
 * with MG_ERR_CANCELLED between blocks of a long piece once mg_cancel(ctx) came. */
mg_status mg_codes_to_audio(mg_context *ctx, const int64_t *codes, int F, float **pcm);
/* mg_decode_codes without clearing ctx's cancel flag first (codec_api.c): for calls
 * inside mg_generate, which cleared it when it started. */
mg_status mg_decode_codes_uncleared(mg_context *ctx, const int64_t *codes, int n_codebooks, int n_frames,
                                    float **pcm, int64_t *n_samples, int *channels);

#endif

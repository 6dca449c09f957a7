/* musicgen.h — the public API of libmusicgen: MusicGen text-to-music inference in C.
 *
 * Usage (error handling shortened; every call returns an mg_status, 0 = MG_OK,
 * and mg_last_error() holds a one-line message for the calling thread):
 *
 *     #include <musicgen.h>
 *
 *     mg_model_params mp = mg_model_default_params();
 *     mp.weight_type = MG_WEIGHT_AUTO_F16;  // f32 checkpoints run in f16: ~2x faster
 *     mg_model *model;
 *     if (mg_model_load("facebook/musicgen-small", &mp, &model) != MG_OK) {
 *         fprintf(stderr, "musicgen: %s\n", mg_last_error());
 *         return 1;
 *     }
 *     mg_context_params cp = mg_context_default_params();
 *     cp.n_threads = 2;
 *     mg_context *ctx;
 *     mg_context_new(model, &cp, &ctx);
 *
 *     mg_generate_params gp = mg_generate_default_params();
 *     gp.duration_s = 8.0f;
 *     gp.seed = 42;
 *     const char *prompts[] = { "lo-fi hip hop, mellow piano, 90 bpm" };
 *     mg_result *res;
 *     if (mg_generate(ctx, prompts, 1, &gp, &res) == MG_OK) {
 *         // res->audio[b]: interleaved float PCM, res->n_samples frames per item,
 *         // res->channels channels at res->sample_rate Hz.
 *         mg_write_audio("out.wav", res->audio[0], res->n_samples, res->channels,
 *                        res->sample_rate, NULL, NULL);  // s16 WAV, never overwrites
 *         mg_result_free(res);
 *     }
 *     mg_context_free(ctx);
 *     mg_model_free(model);
 *
 * Threading: a mg_model is read-only after loading and may be shared by several
 * contexts; each mg_context must be used by one thread at a time. Separate
 * contexts may run concurrently. The library never prints to stdout, never exits
 * and never aborts on bad input.
 */
#ifndef MUSICGEN_H
#define MUSICGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MG_BUILDING_LIBRARY) && defined(__GNUC__)
#define MG_API __attribute__((visibility("default")))
#else
#define MG_API
#endif

/* ---- status ------------------------------------------------------------------ */

typedef enum mg_status {
    MG_OK = 0,
    MG_ERR_INVALID_ARG = 1, /* a parameter is out of range */
    MG_ERR_IO = 2,          /* a file could not be read or written */
    MG_ERR_FORMAT = 3,      /* a file is malformed (config, weights, tokenizer, audio) */
    MG_ERR_NOMEM = 4,       /* allocation failed */
    MG_ERR_CANCELLED = 5,   /* a callback asked to stop */
    MG_ERR_NETWORK = 6,     /* download failed */
    MG_ERR_NOT_FOUND = 7,   /* model / file / tensor not found */
    MG_ERR_UNSUPPORTED = 8, /* valid input this build cannot handle */
    MG_ERR_EXISTS = 9,      /* output exists and overwriting was not allowed */
    MG_ERR_INTERNAL = 10
} mg_status;

/* One-line description of the last failure in the calling thread. */
MG_API const char *mg_last_error(void);
MG_API const char *mg_status_string(mg_status st);
MG_API const char *mg_version(void);

/* Diagnostics (warnings such as "audio prompt downmixed to mono") go to this
 * callback; with none installed the library stays silent. It may be called from any
 * thread that calls into the library (the one that called it), and may be replaced at
 * any time from any thread: each message goes to one (callback, user) pair as set, old
 * or new. A message being delivered when the callback is replaced may still reach the
 * old pair, so keep `user` alive until the threads that may log have returned. */
typedef enum mg_log_level { MG_LOG_DEBUG = 0, MG_LOG_INFO, MG_LOG_WARN } mg_log_level;
typedef void (*mg_log_cb)(mg_log_level level, const char *msg, void *user);
MG_API void mg_set_log_callback(mg_log_cb cb, void *user);

/* ---- models ------------------------------------------------------------------ */

typedef struct mg_model mg_model;
typedef struct mg_context mg_context;

/* Storage format of the weights once loaded. AUTO keeps what the file holds
 * (f32/f16/bf16 from a Hugging Face folder, whatever a GGUF file holds). AUTO_F16
 * keeps it too, except f32 matrices (the released checkpoints hold f32), which become
 * f16: half the bytes every decoder step reads, about twice the speed on a CPU, at
 * f16's rounding (MusicGen is usually run in f16 on GPUs). `musicgen generate` loads
 * this way unless greedy (reference-exact codes need f32) or told otherwise. */
typedef enum mg_weight_type {
    MG_WEIGHT_AUTO = 0,
    MG_WEIGHT_F32,
    MG_WEIGHT_F16,
    MG_WEIGHT_BF16,
    MG_WEIGHT_Q8_0,
    MG_WEIGHT_Q4_0,
    MG_WEIGHT_AUTO_F16
} mg_weight_type;

/* ---- models by name: downloads from the Hugging Face hub --------------------------
 * A repo id ("facebook/musicgen-small") is fetched into the cache huggingface_hub uses
 * ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub; same layout, shared with
 * Python tools), resuming partial files and checking every weight file's sha256. */

/* The released checkpoints this engine runs. */
#define MG_KNOWN_MODELS                                                                 \
    "facebook/musicgen-small, facebook/musicgen-medium, facebook/musicgen-large, "      \
    "facebook/musicgen-stereo-small, facebook/musicgen-stereo-medium, "                 \
    "facebook/musicgen-stereo-large"

typedef struct mg_download_progress {
    const char *repo_id;
    const char *file;       /* file being downloaded (NULL before the first and in the
                               final call) */
    int file_index;         /* 1-based, among the files that need downloading */
    int n_files;            /* files that need downloading (0 while the list is fetched;
                               in the final call, 0: all were cached) */
    int64_t file_done;      /* bytes of this file on disk (includes a resumed part) */
    int64_t file_total;     /* -1 if unknown */
    int64_t done, total;    /* all files of this download (total -1 if unknown) */
    int64_t resumed;        /* bytes of partial files already on disk before this call */
    int64_t received;       /* bytes received over the network so far (for a rate) */
    int finished;           /* 1 in the last call, after every file is in place */
    int waiting;            /* 1: no new bytes (the file list is being fetched, or a retry
                               waits); a call only to let the receiver cancel */
} mg_download_progress;

/* Called often while bytes arrive (throttle any drawing), from the calling thread, and
 * with `waiting` set every 0.1 s while nothing arrives on purpose (the file list is
 * fetched, a retry waits, another process holds the file's lock). Return non-zero to
 * cancel: the call then fails with MG_ERR_CANCELLED within 0.1 s, or within about a
 * second when a transfer stalls (libcurl then calls once a second), and keeps the
 * partial file, so the next call resumes it. */
typedef int (*mg_download_progress_fn)(const mg_download_progress *progress, void *user);

typedef struct mg_download_params {
    const char *endpoint;   /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *revision;   /* NULL: "main"; a branch, tag or commit hash */
    const char *cache_dir;  /* NULL: from the environment (see above) */
    const char *token;      /* NULL: $HF_TOKEN (sent as "Authorization: Bearer") */
    int offline;            /* 1: never use the network ($HF_HUB_OFFLINE=1 also does) */
    mg_download_progress_fn progress; /* NULL: none */
    void *user;
} mg_download_params;

typedef struct mg_download_result {
    char *snapshot;           /* the folder to load (malloc'ed) */
    char *commit;             /* commit hash the revision resolved to (malloc'ed) */
    int n_files;              /* files of the snapshot that the engine uses */
    int n_downloaded;         /* files fetched by this call */
    int64_t bytes_downloaded; /* bytes received by this call */
    int64_t bytes_total;      /* size of all n_files */
} mg_download_result;

MG_API mg_download_params mg_download_default_params(void);
/* Download what the engine needs of repo_id ("ORG/NAME", or "ORG/NAME@REVISION", which
 * wins over params->revision as in mg_model_load): config.json, generation_config.json, spiece.model,
 * tokenizer_config.json if present, model.safetensors or the index and its shards.
 * Cached files are not fetched again. On success *out describes the snapshot (free it
 * with mg_download_result_free). mg_model_load() does the same for a repo id that is not
 * cached; this call also checks the hub for a newer revision. */
MG_API mg_status mg_download(const char *repo_id, const mg_download_params *params, mg_download_result *out);
MG_API void mg_download_result_free(mg_download_result *result);

/* ---- models ------------------------------------------------------------------------ */

typedef struct mg_model_params {
    mg_weight_type weight_type; /* convert decoder weights on load (default AUTO) */
    int offline;                /* never use the network to resolve a repo id */
    const char *hub_endpoint;   /* NULL: $HF_ENDPOINT or https://huggingface.co */
    const char *revision;       /* NULL: "main" */
    mg_download_progress_fn download_progress; /* a repo id that must be downloaded first
                                   reports here (and may be cancelled: MG_ERR_CANCELLED) */
    void *download_user;
    int n_threads;              /* threads used while loading/converting (0: one per core) */
    int no_mmap;                /* 1: read the weights a decoder step uses into (huge-page)
                                   memory instead of reading them from the mapped file:
                                   ~10% faster steps where the page cache holds the file
                                   in 4 KiB pages, at the cost of a copy at load */
} mg_model_params;

MG_API mg_model_params mg_model_default_params(void);

/* `path` is a Hugging Face checkpoint folder, a .gguf file made by `musicgen quantize`,
 * or a hub repo id ("facebook/musicgen-small") resolved through the hub cache, at
 * params->revision or at the revision written after '@' ("facebook/musicgen-small@v1",
 * as huggingface_hub's file-system paths write it).
 * Weight files stay memory-mapped while the model lives: replace one by writing a new
 * file and renaming it over the old (as `musicgen quantize` and `download` do; the
 * loaded model keeps the old bytes). Truncating or rewriting it in place (`cp` over it)
 * while it is loaded makes the process fault (SIGBUS) the next time it reads them. */
MG_API mg_status mg_model_load(const char *path, const mg_model_params *params, mg_model **out);
/* Free the contexts made on a model (mg_context_free) before the model: a context
 * keeps using its model's weights. */
MG_API void mg_model_free(mg_model *model);

typedef struct mg_model_info {
    int stereo;               /* 1 for stereo checkpoints */
    int channels;             /* audio channels of the output (1 or 2) */
    int sample_rate;          /* 32000 for the released models */
    float frame_rate;         /* codec frames per second (50) */
    int hop_length;           /* samples per codec frame (640) */
    int n_codebooks;          /* decoder codebooks K (4 mono, 8 stereo) */
    int codebook_size;        /* decoder vocabulary V (2048) */
    int codec_codebooks;      /* RVQ levels per channel */
    int max_steps;            /* decoder steps of one generation window */
    float max_duration_s;     /* audio seconds of one window (0: too short for the delay
                                 pattern; only a number of steps can be generated) */
    int decoder_layers, decoder_hidden, decoder_heads, decoder_ffn;
    const char *decoder_activation; /* "gelu" (transformers' name) */
    int text_layers, text_hidden, text_heads, text_vocab;
    int text_head_dim, text_ffn;    /* d_kv, d_ff */
    const char *text_activation;    /* "relu"; text_gated: act(wi_0 x) * wi_1 x (T5 v1.1) */
    int text_gated;
    int codec_filters, codec_hidden, codec_lstm_layers, codec_residual_layers;
    int codec_ratios[8], codec_n_ratios; /* upsampling_ratios (decoder order) */
    int codec_causal;               /* use_causal_conv */
    int64_t params_text, params_decoder, params_codec, params_total; /* as transformers'
                               * num_parameters() counts them (EnCodec's codebooks are buffers) */
    const char *weight_type;  /* storage of the decoder weights: "f32", "q8_0", "q8_0 (+ f16
                               * for 22 matrices)"; its first word is the format (q8_0 / q4_0
                               * also for a toy model none of whose matrices was quantized) */
    int64_t step_weight_bytes; /* decoder weight bytes read per generation step */
    float guidance_scale;     /* defaults from generation_config.json */
    int top_k;
    int do_sample;            /* 0: greedy by default */
    float top_p;              /* 1 = off */
    float temperature;
} mg_model_info;

MG_API void mg_model_get_info(const mg_model *model, mg_model_info *out);

/* Deep check of a loaded model, for `musicgen info` and download checks. Loading
 * already checks files, tensor names, dtypes, shapes and byte ranges of everything a
 * stage uses; this also reads every weight value (NaN / Inf are errors naming the
 * tensor), reports tensors no stage uses (warnings), checks the config for
 * consistency and that the tokenizer encodes a test sentence into ids the text
 * encoder accepts. Each finding is passed to `cb` (may be NULL) as one line;
 * `report` (may be NULL) receives the counts. Returns MG_OK when nothing is wrong
 * (warnings allowed), else MG_ERR_FORMAT with mg_last_error() describing the first
 * error (and how many more there are). Reads the whole checkpoint: seconds for
 * musicgen-small, about a minute for musicgen-large from a cold disk. */
typedef enum mg_finding { MG_FINDING_WARNING = 0, MG_FINDING_ERROR = 1 } mg_finding;
typedef void (*mg_validate_cb)(mg_finding kind, const char *msg, void *user);

typedef struct mg_validate_report {
    int n_tensors;        /* tensors in the checkpoint */
    int n_checked;        /* floating-point tensors whose values were scanned */
    int64_t n_values;     /* values scanned */
    int n_nonfinite;      /* tensors holding NaN or Inf */
    int n_unused;         /* tensors no stage uses (unknown names) */
    int n_warnings, n_errors;
    int tokenizer_ok;     /* the test sentence encodes into valid ids */
} mg_validate_report;

MG_API mg_status mg_model_validate(const mg_model *model, mg_validate_cb cb, void *user,
                                   mg_validate_report *report);

/* ---- quantize: a model as one GGUF file ---------------------------------------------
 * What `musicgen quantize` does: the decoder's matrices in one format (docs/gguf.md
 * says which tensor gets which), T5 in f16 (f32 for F32), the configs, generation
 * defaults and tokenizer included; mg_model_load() maps the result without conversion. */

/* Called after each tensor is written; return non-zero to cancel (MG_ERR_CANCELLED,
 * and no file is left behind). The check before the conversion calls nothing and
 * cannot be cancelled: it reads every value once (a few seconds for musicgen-small,
 * about one per GB of weights). */
typedef int (*mg_quantize_progress_fn)(int64_t done_bytes, int64_t total_bytes, const char *tensor, void *user);

typedef struct mg_quantize_params {
    mg_weight_type type;     /* MG_WEIGHT_Q8_0 (default; AUTO means it too), Q4_0, F16, BF16 or F32 */
    int pure;                /* q8_0 / q4_0: 1 gives small decoder matrices `type` too (by default
                                matrices of fewer than MG_QUANT_SMALL_MATRIX values, which only
                                toy models have, stay f32); f16 / bf16 convert them anyway */
    int overwrite;           /* replace an existing output (default 0: MG_ERR_EXISTS) */
    int n_threads;           /* threads converting (0: one per core); the bytes do not depend on it */
    mg_quantize_progress_fn progress; /* may be NULL */
    void *user;
    /* A repo id is resolved as mg_model_load resolves it (mg_model_params' fields of the
     * same names), and reports the download it may need here. */
    int offline;
    const char *hub_endpoint;
    const char *revision;
    mg_download_progress_fn download_progress;
    void *download_user;
} mg_quantize_params;

#define MG_QUANT_BLOCK 32                 /* values per q8_0 / q4_0 block */
#define MG_QUANT_SMALL_MATRIX (1 << 18)   /* smaller matrices stay f32 in q8_0 / q4_0 files */

typedef struct mg_quantize_result {
    int64_t in_bytes;        /* weight bytes of the source */
    int64_t out_bytes;       /* size of the GGUF file written */
    int n_kept_f32;          /* small decoder matrices left in f32 (0 with pure) */
    int n_kept_f16;          /* decoder matrices whose rows are not a multiple of
                                MG_QUANT_BLOCK values, stored in f16 instead */
} mg_quantize_result;

MG_API mg_quantize_params mg_quantize_default_params(void);
/* Convert `model` (a checkpoint folder, a .gguf file or a repo id, as mg_model_load
 * takes it) into one GGUF file at `out_path`. The model is first checked as
 * mg_model_validate() checks it (its warnings go to the log callback), so a file that
 * would not load is never written; the output is written to a temporary file and
 * renamed into place (so a GGUF may be converted over itself, while an existing
 * `out_path` that is one of a model folder's own weight, config or tokenizer files is
 * MG_ERR_INVALID_ARG, even with overwrite).
 * `result` may be NULL. */
MG_API mg_status mg_quantize(const char *model, const char *out_path, const mg_quantize_params *params,
                             mg_quantize_result *result);

/* ---- tokenizer ----------------------------------------------------------------- */

/* T5 ids of `text` ending with </s> (1). *out is malloc'ed; free with mg_free(). */
MG_API mg_status mg_tokenize(const mg_model *model, const char *text, int32_t **out, int *n_out);
MG_API void mg_free(void *p);
/* The piece of token `id` ("\u2581rock", "</s>", "<extra_id_0>"), or NULL if out of range. */
MG_API const char *mg_token_piece(const mg_model *model, int id);

/* ---- contexts ------------------------------------------------------------------ */

typedef enum mg_kv_type { MG_KV_F16 = 0, MG_KV_F32, MG_KV_Q8_0 } mg_kv_type;

typedef struct mg_context_params {
    int n_threads;      /* 0: one per physical core this process may use (its affinity mask
                         * and cgroup CPU quota honoured, SMT siblings counted once, only
                         * the performance cores of hybrid / big.LITTLE CPUs). The calling
                         * thread is one of them; the others are the context's own and block
                         * every signal but faults, so a process-directed signal (Ctrl-C,
                         * SIGTERM) goes to the host's threads */
    mg_kv_type kv_type; /* self-attention cache format (default f16; MG_KV_F32 for greedy runs
                           that must give the reference's codes exactly: an f16 cache can
                           flip a near-tie, as `musicgen generate --greedy` avoids) */
} mg_context_params;

MG_API mg_context_params mg_context_default_params(void);
MG_API mg_status mg_context_new(mg_model *model, const mg_context_params *params, mg_context **out);
MG_API void mg_context_free(mg_context *ctx);

/* ---- generation ---------------------------------------------------------------- */

/* Progress: called once per decoder step. Return non-zero to cancel (mg_generate then
 * returns MG_ERR_CANCELLED within one step and frees everything it allocated).
 * Both callbacks run on the thread that called mg_generate, between steps. They may
 * call the library on other contexts (and mg_last_error, mg_set_log_callback); calling
 * mg_generate, mg_encode_audio or mg_decode_codes on the context that is generating is
 * not supported. */
typedef int (*mg_progress_cb)(int step, int total_steps, void *user);

/* Streaming: interleaved float PCM for batch item `item`, starting at sample frame
 * `position` (per channel), `n_frames` frames. Return non-zero to cancel. */
typedef int (*mg_audio_cb)(int item, const float *pcm, int64_t n_frames, int channels,
                           int64_t position, void *user);

/* mg_generate_params.seed: pick a random seed. */
#define MG_SEED_RANDOM UINT64_MAX

typedef struct mg_generate_params {
    double duration_s;    /* audio length in seconds (incl. an audio prompt); default 10 */
    int steps;            /* if > 0: exactly this many decoder steps (overrides duration_s) */
    /* -1 (the defaults): as the model's generation_config.json says */
    int greedy;           /* 1: argmax; 0: sample; -1: do_sample (sampling, released models);
                             any other value is MG_ERR_INVALID_ARG */
    int top_k;            /* -1: top_k (250); 0 = no top-k */
    float top_p;          /* -1: top_p (off); 0 or 1 = off */
    float temperature;    /* -1: temperature (1); otherwise > 0 */
    float guidance_scale; /* < 0: from generation_config (3.0); <= 1: no CFG */
    uint64_t seed;        /* MG_SEED_RANDOM (the default): one is picked and reported in
                             mg_result.seed; any other value, 0 included, is used as is.
                             Item b uses seed + b (modulo 2^64). */
    const char *negative_prompt; /* NULL/"": plain CFG; else uncond row uses this text
                                  * (not an unconditional "" item's: it is generated as
                                  * alone, without guidance) */

    /* Audio prompt (continuation): interleaved float PCM at its own rate. */
    const float *audio_prompt;
    int64_t audio_prompt_frames;
    int audio_prompt_channels;
    int audio_prompt_rate;

    /* Long-form generation beyond one window. */
    double window_s;      /* <= 0: the model's window; up to max_length columns (30 s for
                             the released models, as audiocraft counts it) it means the
                             whole window, whose audio is D - 1 frames shorter (29.92 s) */
    double stride_s;      /* <= 0: 18 s (audiocraft's extend_stride; 60 % of a window of
                             18 s or less) */

    int decode_audio;     /* 0: codes only (no EnCodec decode) */
    mg_progress_cb progress;
    mg_audio_cb on_audio; /* streaming chunks; NULL = none */
    void *user;
} mg_generate_params;

MG_API mg_generate_params mg_generate_default_params(void);

typedef struct mg_result {
    int batch;          /* number of prompts */
    int n_codebooks;    /* K */
    int n_frames;       /* codec frames per item */
    int64_t *codes;     /* [batch][K][n_frames], delay pattern undone */
    int channels;
    int sample_rate;
    int64_t n_samples;  /* sample frames per item (per channel) */
    float **audio;      /* audio[b]: n_samples * channels interleaved; NULL if not decoded */
    uint64_t seed;      /* the seed used (item b used seed + b) */
    int steps;          /* decoder steps run */
    /* Where the time went (milliseconds, wall clock). */
    double text_ms;     /* tokenizer + T5 */
    double prompt_ms;   /* audio prompt encoding */
    double decoder_ms;  /* all decoder steps */
    double codec_ms;    /* EnCodec decoding */
    /* Parts of decoder_ms (the rest: token embedding, guidance, sampling, callbacks,
     * and with streaming the audio decoded meanwhile). */
    double matmul_ms;     /* weight matrices: projections, feed-forward, lm heads, with
                             the layer norms and residual adds between them */
    double self_attn_ms;  /* self-attention over the KV cache */
    double cross_attn_ms; /* cross-attention over the text */
} mg_result;

/* At most this many prompts per mg_generate call (each is two decoder rows with
 * guidance); memory runs out long before for any real duration. */
#define MG_MAX_PROMPTS (1 << 20)

MG_API mg_status mg_generate(mg_context *ctx, const char *const *prompts, int n_prompts,
                             const mg_generate_params *params, mg_result **out);
MG_API void mg_result_free(mg_result *res);

/* Ask the mg_generate or mg_decode_codes call running on ctx (in another thread) to
 * stop: it returns MG_ERR_CANCELLED soon after, within one decoder step, or one block of
 * EnCodec's work while audio is decoded (~11 s of audio for musicgen-small's codec,
 * ~1-2 s of a 2-core CPU's time). It only sets a flag (an atomic store), so a signal
 * handler may call it. Each of those calls clears the flag when it starts: a cancel
 * that comes before a call is not remembered. NULL: no-op. */
MG_API void mg_cancel(mg_context *ctx);

/* ---- codec ------------------------------------------------------------------------ */

/* Encode audio (interleaved float PCM at `rate` Hz, any channel count; resampled and
 * mixed as the model needs) into codes [1][K][*n_frames] (malloc'ed, mg_free). */
MG_API mg_status mg_encode_audio(mg_context *ctx, const float *pcm, int64_t n_frames, int channels,
                                 int rate, int64_t **codes, int *n_codebooks, int *n_codes_frames);

/* Decode codes [K][n_frames] into interleaved float PCM (*pcm malloc'ed, mg_free). */
MG_API mg_status mg_decode_codes(mg_context *ctx, const int64_t *codes, int n_codebooks,
                                 int n_frames, float **pcm, int64_t *n_samples, int *channels);

/* ---- codes files ------------------------------------------------------------------ */

/* Codes as a NumPy .npy file: dtype '<i8', shape [batch, n_codebooks, n_frames].
 * Atomic (temporary file + rename); MG_ERR_EXISTS if the file exists and !overwrite. */
MG_API mg_status mg_write_codes(const char *path, const int64_t *codes, int batch, int n_codebooks, int n_frames,
                                int overwrite);
/* Read codes from .npy: shape [B, K, T] or [K, T] (then B = 1), any integer dtype.
 * *codes is malloc'ed (mg_free). */
MG_API mg_status mg_read_codes(const char *path, int64_t **codes, int *batch, int *n_codebooks, int *n_frames);

/* ---- audio files ------------------------------------------------------------------ */

typedef enum mg_sample_format { MG_SAMPLE_S16 = 0, MG_SAMPLE_S24, MG_SAMPLE_F32 } mg_sample_format;

typedef struct mg_audio_tags {
    const char *title;   /* e.g. the prompt */
    const char *comment; /* e.g. model, seed, parameters */
    const char *software;
} mg_audio_tags;

typedef struct mg_audio_write_params {
    mg_sample_format format; /* s16 (default), s24, f32 (.wav only); ignored by .ogg, .mp3 */
    int overwrite;           /* replace an existing file (default 0: MG_ERR_EXISTS) */
    mg_audio_tags tags;      /* metadata; NULL fields are left out; each cut to 2000 bytes */
} mg_audio_write_params;

MG_API mg_audio_write_params mg_audio_write_default_params(void);

/* Every file the library writes (audio, codes, GGUF) goes to a temporary file that is
 * renamed into place when complete. A program stopping abruptly (a signal handler that
 * calls _exit) calls this first: it removes the temporary files of the writes still in
 * progress, so nothing partial is left behind. Async-signal-safe (unlink only).
 * Downloads keep their .incomplete files on purpose: the next download resumes them. */
MG_API void mg_remove_temp_files(void);

/* The longest audio mg_write_audio writes: 4 hours at the file's rate. */
#define MG_MAX_WRITE_SECONDS (4 * 3600)

/* Write interleaved float PCM; the container follows the extension: .wav, .flac
 * (s16/s24 only), .ogg (Ogg Vorbis) or .mp3 (MPEG Layer III: mono or stereo at 8000,
 * 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz). Without
 * params->overwrite an existing file is never replaced (MG_ERR_EXISTS). Writes to a
 * temporary file in the same folder and renames it, so no partial file is ever left,
 * not even on a full disk. s16/s24, .ogg and .mp3 clip samples beyond +-1 and report
 * how many in *n_clipped (may be NULL); f32 stores samples unchanged. params may be
 * NULL (defaults). */
MG_API mg_status mg_write_audio(const char *path, const float *pcm, int64_t n_frames, int channels,
                                int sample_rate, const mg_audio_write_params *params, int64_t *n_clipped);

/* Check that mg_write_audio could write `path` (extension, format, folder, existing
 * file) without writing anything: call it before a long generation. */
MG_API mg_status mg_check_audio_output(const char *path, const mg_audio_write_params *params, int channels,
                                       int sample_rate);

/* Read an audio file (WAV, FLAC, Ogg, MP3, ... whatever libsndfile decodes) as
 * interleaved float PCM (*pcm malloc'ed, mg_free). Files longer than 1 hour, with
 * rates outside 1000..768000 Hz or without any samples are rejected, and so are pipes
 * and devices (one nobody writes to would block forever). libsndfile's MP3 decoder
 * (libmpg123) may print its own diagnostics on stderr. */
MG_API mg_status mg_read_audio(const char *path, float **pcm, int64_t *n_frames, int *channels,
                               int *sample_rate);

/* Resample with libsoxr (high quality) to `out_rate`; *out (malloc'ed, mg_free) holds
 * round(n_frames * out_rate / in_rate) frames of the same channel count. */
MG_API mg_status mg_resample_audio(const float *pcm, int64_t n_frames, int channels, int in_rate, int out_rate,
                                   float **out, int64_t *n_out);

/* Loudness normalization (EBU R128), in place: bring the integrated loudness to
 * target_lufs (audiocraft uses -14) and limit peaks so the true peak stays below
 * peak_dbfs (e.g. -1). Near-silent audio is left unchanged. *measured_lufs (may be
 * NULL) receives the loudness before normalization. */
MG_API mg_status mg_normalize_audio_loudness(float *pcm, int64_t n_frames, int channels, int sample_rate,
                                             double target_lufs, double peak_dbfs, double *measured_lufs);

/* Peak normalization, in place: scale so the largest |sample| equals `peak` (e.g.
 * 0.99 or 10^(-1/20)); silence, audio holding a non-finite sample, and a `peak` that
 * is not a positive number leave the audio unchanged. */
MG_API void mg_normalize_audio_peak(float *pcm, int64_t n_frames, int channels, float peak);

/* Streaming WAV to a pipe or file (e.g. stdout) when the length is not known up front:
 * a 44-byte header with 0xFFFFFFFF RIFF/data sizes (what sox and ffmpeg write to
 * pipes), then little-endian PCM (s16, s24, or f32 as IEEE float). raw != 0 writes the
 * samples only. Integer formats clip beyond +-1. Each write is flushed. */
typedef struct mg_wav_stream mg_wav_stream;
MG_API mg_status mg_wav_stream_begin(FILE *fp, int sample_rate, int channels, mg_sample_format fmt, int raw,
                                     mg_wav_stream **out);
MG_API mg_status mg_wav_stream_write(mg_wav_stream *s, const float *pcm, int64_t n_frames);
/* Flush and free the stream (not the FILE*); *n_clipped (may be NULL) gets the total
 * number of clipped samples. */
MG_API mg_status mg_wav_stream_end(mg_wav_stream *s, int64_t *n_clipped);

#ifdef __cplusplus
}
#endif
#endif

/* config.h — the model's hyper-parameters, read from a Hugging Face MusicGen
 * config.json (sub-configs text_encoder / audio_encoder / decoder) and
 * generation_config.json, and checked for consistency before any weight is read.
 */
#ifndef MG_IO_CONFIG_H
#define MG_IO_CONFIG_H

#include "base/status.h"
#include "tensor/activation.h"

typedef struct mg_t5_config {
    int vocab_size;   /* 32128 */
    int d_model;      /* 768 */
    int d_kv;         /* 64 */
    int n_heads;      /* 12 */
    int d_ff;         /* 3072 */
    int n_layers;     /* 12 */
    int num_buckets;  /* 32 */
    int max_distance; /* 128 */
    float eps;        /* 1e-6 */
    mg_act ff_act;    /* feed-forward activation: relu (MusicGen) */
    int gated;        /* gated feed-forward (wi_0, wi_1): act(wi_0 x) * wi_1 x */
} mg_t5_config;

#define MG_MAX_RATIOS 8
#define MG_MAX_HOP (1 << 20) /* samples per codec frame: the product of upsampling_ratios */
#define MG_MAX_CODEC_CHANNELS (1 << 16) /* num_filters x 2^(number of upsampling ratios): the LSTM width */
/* audio_encoder.pad_mode (torch.nn.functional.pad modes EnCodec can use) */
enum { MG_PAD_CONSTANT = 0, MG_PAD_REFLECT = 1, MG_PAD_REPLICATE = 2 };
typedef struct mg_encodec_config {
    int audio_channels;       /* channels the codec itself encodes (1 for MusicGen) */
    int sample_rate;          /* 32000 */
    int num_filters;          /* 64 */
    int hidden_size;          /* 128 */
    int codebook_size;        /* 2048 */
    int codebook_dim;         /* 128 */
    int kernel_size, last_kernel_size, residual_kernel_size;
    int dilation_growth_rate;
    int num_residual_layers;
    int num_lstm_layers;
    int compress;             /* 2 */
    int upsampling_ratios[MG_MAX_RATIOS];
    int n_ratios;
    int use_causal_conv;      /* 0 for MusicGen: pad/trim both sides, else all on the left */
    double trim_right_ratio;  /* causal transposed convs trim ceil(ratio * pad) on the right */
    int use_conv_shortcut;    /* resnet blocks add a 1x1 conv of x instead of x */
    int pad_mode;             /* MG_PAD_*: how convolutions pad the signal's ends */
    int normalize;            /* 0 for MusicGen */
    int weight_norm;          /* norm_type == weight_norm */
    double target_bandwidth;  /* first of target_bandwidths (encode default) */
    double max_bandwidth;     /* last of target_bandwidths (sets num_quantizers) */
    int num_quantizers;       /* RVQ layers stored in the checkpoint */
    int n_codes;              /* codes used at the default bandwidth */
    /* derived */
    int hop_length;           /* prod(ratios) = 640 */
    int frame_rate;           /* ceil(sample_rate / hop) = 50 */
} mg_encodec_config;

typedef struct mg_decoder_config {
    int vocab_size;           /* V = 2048 (pad/bos id = V) */
    int hidden_size;          /* 1024 */
    int n_layers;             /* 24 */
    int n_heads;              /* 16 */
    int ffn_dim;              /* 4096 */
    int n_codebooks;          /* K: 4 mono, 8 stereo */
    int audio_channels;       /* 1 or 2 */
    int max_position_embeddings;
    int scale_embedding;      /* kept for the GGUF copy of the config only: transformers
                               * computes embed_scale from it but never applies it */
    int pad_token_id, bos_token_id;
    mg_act act;               /* fc1's activation: gelu (MusicGen) */
    int cross_attention_hidden_size; /* 0 when null (always, in the released models) */
} mg_decoder_config;

typedef struct mg_generation_config {
    int do_sample;
    float guidance_scale;
    int top_k;
    float top_p;
    float temperature;
    int max_length;           /* columns incl. the start column (1500) */
    int decoder_start_token_id;
    int pad_token_id;
    int from_defaults;        /* 1: the checkpoint has no generation_config.json (the
                                 released models' settings stand in for it) */
} mg_generation_config;

typedef struct mg_config {
    mg_t5_config t5;
    mg_encodec_config codec;
    mg_decoder_config dec;
    mg_generation_config gen;
    int has_enc_to_dec_proj;  /* t5.d_model != dec.hidden_size (or the weights exist) */
    char name_or_path[256];
} mg_config;

/* Parse config.json text (`where` names the file in messages). */
mg_status mg_config_parse(const char *json, size_t len, const char *where, mg_config *cfg);
/* What a checkpoint without generation_config.json generates with, said when it matters. */
#define MG_NO_GENERATION_CONFIG                                                                                  \
    "the model has no generation_config.json, so the released MusicGen checkpoints' defaults stand in for it "  \
    "(sampling with top-k 250, guidance 3, a window of up to 1500 steps), where transformers would decode "     \
    "greedily without guidance; add the file, or set what you want explicitly"
/* Parse generation_config.json text into cfg->gen (defaults if absent: see .c). */
mg_status mg_generation_config_parse(const char *json, size_t len, const char *where, mg_config *cfg);
void mg_generation_config_defaults(mg_config *cfg);
/* Serialize the fields above back to JSON (used by GGUF and the checkpoint maker);
 * returns a malloc'ed string. */
char *mg_config_to_json(const mg_config *cfg);
char *mg_generation_config_to_json(const mg_config *cfg);

/* Delay steps D: K for mono, K/2 for stereo. */
int mg_config_delays(const mg_config *cfg);
/* "reflect", "constant" or "replicate" (config.json's spelling of MG_PAD_*). */
const char *mg_pad_mode_name(int pad_mode);

/* Columns of one decoder run, the start token's included: generation_config's
 * max_length, capped by the position table. The last column is never fed back, so
 * max_position_embeddings positions hold max_position_embeddings + 1 columns. */
int mg_config_window_columns(const mg_config *cfg);
/* Whether one decoder run holds fewer codec frames than the delay pattern's minimum
 * (delays - 1): then no duration can be generated, only a number of steps. */
int mg_config_window_is_empty(const mg_config *cfg);
/* "the generation window is empty (max_length L, max_position_embeddings P, D delayed
 * codebooks)", the start of every message about such a model. */
void mg_config_empty_window_text(const mg_config *cfg, char *buf, size_t size);

#endif

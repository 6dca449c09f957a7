"""musicgen_ref.py - an independent float64 numpy reference of MusicGen greedy generation.

Transcribes transformers' (4.44) MusicgenForConditionalGeneration.generate(do_sample=False): T5 encoder
(plain or gated feed-forward), enc_to_dec_proj, MusicGen decoder, delay pattern (mono / stereo
interleaved), classifier-free guidance against the null condition, argmax. Only tokenization is
delegated, to the engine's `musicgen tokenize`. Entry point: greedy_codes(model_dir, prompts, steps)
-> (codes [B, K, frames] int64 as `musicgen generate --codes-out` writes them, smallest top-1/top-2 gap).
"""
import json
import math
import os
import subprocess

import numpy as np

F32_MIN = float(np.finfo(np.float32).min)  # what HF adds to masked attention scores
T5 = 'text_encoder.encoder.'
DEC = 'decoder.model.decoder.'
SAFETENSORS_DTYPES = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'BF16': '<u2', 'I64': '<i8', 'I32': '<i4'}
_erf = np.frompyfunc(math.erf, 1, 1)

def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

ACT2FN = {  # transformers.activations.ACT2FN, all of it
    'gelu': lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64)),
    'gelu_new': _gelu_tanh, 'gelu_pytorch_tanh': _gelu_tanh,
    'gelu_fast': lambda x: 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    'quick_gelu': lambda x: x / (1.0 + np.exp(-1.702 * x)), 'relu': lambda x: np.maximum(x, 0.0),
    'silu': lambda x: x / (1.0 + np.exp(-x)), 'swish': lambda x: x / (1.0 + np.exp(-x)), 'tanh': np.tanh,
    'gelu_python': lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64)),
    'gelu_accurate': _gelu_tanh,
    'gelu_10': lambda x: np.clip(0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64)), -10, 10),
    'laplace': lambda x: 0.5 * (1.0 + _erf((x - 0.707107) / (0.282095 * math.sqrt(2.0))).astype(np.float64)),
    'leaky_relu': lambda x: np.where(x >= 0, x, 0.01 * x), 'linear': lambda x: x,
    'mish': lambda x: x * np.tanh(np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))),
    'relu2': lambda x: np.maximum(x, 0.0) ** 2, 'relu6': lambda x: np.clip(x, 0.0, 6.0),
    'sigmoid': lambda x: 1.0 / (1.0 + np.exp(-x)),
}

# ----------------------------------------------------------------------------- checkpoint and tokens
def read_safetensors(path, skip_prefixes=()):
    """{name: array} of a .safetensors file: F32/F16/BF16/F64 exactly as float64, integers as int64."""
    out = {}
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        for name, t in json.loads(f.read(n)).items():
            if name == '__metadata__' or name.startswith(skip_prefixes):
                continue
            start, end = t['data_offsets']
            f.seek(8 + n + start)
            a = np.frombuffer(f.read(end - start), dtype=SAFETENSORS_DTYPES[t['dtype']])
            if t['dtype'] == 'BF16':
                a = (a.astype(np.uint32) << 16).view(np.float32)
            out[name] = a.reshape(t['shape']).astype(np.int64 if t['dtype'][0] == 'I' else np.float64)
    return out

def load_model(model_dir):
    """(weights, config, generation_config) of a HF MusicGen folder. Weights come from model.safetensors
    or the shards named by model.safetensors.index.json; the audio encoder is left out."""
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    files = set(json.load(open(index))['weight_map'].values()) if os.path.exists(index) else ['model.safetensors']
    W = {}
    for name in sorted(files):
        W.update(read_safetensors(os.path.join(model_dir, name), ('audio_encoder.',)))
    gen_path = os.path.join(model_dir, 'generation_config.json')
    gen = json.load(open(gen_path)) if os.path.exists(gen_path) else {}
    return W, json.load(open(os.path.join(model_dir, 'config.json'))), gen

def tokenize(model_dir, texts, musicgen_bin=None):
    """T5 ids (ending in </s>) of each text, from `musicgen tokenize -m MODEL -- TEXT...` (one line each).
    The binary: musicgen_bin, else $MUSICGEN, else `musicgen` on PATH."""
    exe = musicgen_bin or os.environ.get('MUSICGEN') or 'musicgen'
    out = subprocess.run([exe, 'tokenize', '-m', model_dir, '--'] + list(texts), capture_output=True, text=True,
                         check=True).stdout.splitlines()
    if len(out) != len(texts):
        raise RuntimeError('musicgen tokenize printed %d lines for %d texts' % (len(out), len(texts)))
    return [[int(x) for x in line.split()] for line in out]

# ----------------------------------------------------------------------------- building blocks
def linear(W, name, x):
    y = x @ W[name + '.weight'].T
    return y + W[name + '.bias'] if name + '.bias' in W else y

def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

def layer_norm(W, name, x, eps=1e-5):
    c = x - x.mean(-1, keepdims=True)
    return c / np.sqrt((c * c).mean(-1, keepdims=True) + eps) * W[name + '.weight'] + W[name + '.bias']

def split_heads(x, heads):  # [B, L, H*dh] -> [B, H, L, dh]
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(0, 2, 1, 3)

def merge_heads(x):  # [B, H, L, dh] -> [B, L, H*dh]
    return x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)

def mask_bias(mask):  # [B, S] of 1/0 -> additive [B, 1, 1, S]
    return (1.0 - mask)[:, None, None, :] * F32_MIN

# ----------------------------------------------------------------------------- T5 encoder
def relative_position_bucket(rel, num_buckets=32, max_distance=128):
    """T5Attention._relative_position_bucket, bidirectional. The log branch is float32 as in torch
    (quotient, log, scaling in float32, then truncation), which can differ from float64 by one bucket."""
    half, exact, n = num_buckets // 2, num_buckets // 4, np.abs(rel)
    ratio = np.maximum(n, 1).astype(np.float32) / np.float32(exact)
    log = np.log(ratio.astype(np.float64)).astype(np.float32)  # correctly rounded float32 log
    large = log / np.float32(math.log(max_distance / exact)) * np.float32(half - exact)
    large = np.minimum(exact + large.astype(np.float32).astype(np.int64), half - 1)
    return (rel > 0) * half + np.where(n < exact, n, large)

def t5_position_bias(W, te, L):
    """[1, heads, L, L] relative position bias of block 0 (reused by every block)."""
    pos = np.arange(L)
    bucket = relative_position_bucket(pos[None, :] - pos[:, None], te.get('relative_attention_num_buckets', 32),
                                      te.get('relative_attention_max_distance', 128))
    return W[T5 + 'block.0.layer.0.SelfAttention.relative_attention_bias.weight'][bucket].transpose(2, 0, 1)[None]

def t5_ffn_activation(te):
    """(activation name, gated) as T5Config resolves feed_forward_proj ("ACT" or "gated-ACT", "gated-gelu"
    meaning gelu_new); dense_act_fn / is_gated_act keys in config.json win, as HF's kwargs do."""
    proj = te.get('feed_forward_proj', 'relu')
    parts = proj.split('-')
    if (len(parts) > 1 and parts[0] != 'gated') or len(parts) > 2:
        raise ValueError('feed_forward_proj %r is not ACT or gated-ACT' % proj)
    act = 'gelu_new' if proj == 'gated-gelu' else parts[-1]
    return te.get('dense_act_fn', act), bool(te.get('is_gated_act', parts[0] == 'gated'))

def t5_feed_forward(W, p, x, act, gated):
    """T5DenseGatedActDense wo(act(wi_0 x) * wi_1 x), or T5DenseActDense wo(act(wi x))."""
    if gated:
        return linear(W, p + 'wo', ACT2FN[act](linear(W, p + 'wi_0', x)) * linear(W, p + 'wi_1', x))
    return linear(W, p + 'wo', ACT2FN[act](linear(W, p + 'wi', x)))

def t5_encode(W, te, ids, mask):
    """T5 encoder on right-padded ids [B, L] with mask [B, L] -> (last_hidden_state, [output of each block])."""
    H, eps = te['num_heads'], te.get('layer_norm_epsilon', 1e-6)
    act, gated = t5_ffn_activation(te)
    x = W['text_encoder.shared.weight'][ids]
    bias = t5_position_bias(W, te, ids.shape[1]) + mask_bias(mask)
    blocks = []
    for l in range(te['num_layers']):
        p = T5 + 'block.%d.layer.' % l
        y = rms_norm(x, W[p + '0.layer_norm.weight'], eps)
        q, k, v = (split_heads(linear(W, p + '0.SelfAttention.' + n, y), H) for n in 'qkv')
        att = softmax(q @ k.transpose(0, 1, 3, 2) + bias) @ v  # no 1/sqrt(d_kv) in T5
        x = x + linear(W, p + '0.SelfAttention.o', merge_heads(att))
        x = x + t5_feed_forward(W, p + '1.DenseReluDense.', rms_norm(x, W[p + '1.layer_norm.weight'], eps), act, gated)
        blocks.append(x)
    return rms_norm(x, W[T5 + 'final_layer_norm.weight'], eps), blocks

def encoder_states(W, cfg, ids_list):
    """Cross-attention input of a batch: (enc_to_dec_proj(T5) * mask[..., None], mask), right-padded.
    An empty id list is the null condition (zero states, zero mask)."""
    B, L = len(ids_list), max(1, max(len(x) for x in ids_list))
    ids, mask = np.zeros((B, L), np.int64), np.zeros((B, L))
    for i, x in enumerate(ids_list):
        ids[i, :len(x)], mask[i, :len(x)] = x, 1
    h = t5_encode(W, cfg['text_encoder'], ids, mask)[0]
    if 'enc_to_dec_proj.weight' in W:  # absent (identity) when the hidden sizes are equal
        h = linear(W, 'enc_to_dec_proj', h)
    return h * mask[..., None], mask

# ----------------------------------------------------------------------------- MusicGen decoder
def decoder_positions(W, de):
    """The stored sinusoidal table, else MusicgenSinusoidalPositionalEmbedding.get_embedding in float32."""
    if DEC + 'embed_positions.weights' in W:
        return W[DEC + 'embed_positions.weights']
    n, d = de['max_position_embeddings'], de['hidden_size']
    f = np.exp(np.arange(d // 2, dtype=np.float32) * np.float32(-math.log(10000) / (d // 2 - 1)))
    e = np.arange(n, dtype=np.float32)[:, None] * f[None, :]
    return np.pad(np.concatenate([np.cos(e), np.sin(e)], 1), ((0, 0), (0, d % 2))).astype(np.float64)

def decoder_start(W, de, enc, emask):
    """Decoding state for rows attending to enc [N, S, d] / emask [N, S]: empty self-attention cache,
    cross-attention keys and values."""
    H = de['num_attention_heads']
    cross = [tuple(split_heads(linear(W, DEC + 'layers.%d.encoder_attn.%s_proj' % (l, n), enc), H) for n in 'kv')
             for l in range(de['num_hidden_layers'])]
    return {'t': 0, 'cache': [None] * len(cross), 'cross': cross, 'cross_bias': mask_bias(emask),
            'positions': decoder_positions(W, de)}

def decoder_step(W, de, state, tokens):
    """Next column of decoder input ids [N, K] -> logits [N, K, V]; extends the self-attention cache."""
    H, K, t = de['num_attention_heads'], de['num_codebooks'], state['t']
    scale, act = (de['hidden_size'] // H) ** -0.5, ACT2FN[de.get('activation_function', 'gelu')]
    if t >= len(state['positions']):
        raise ValueError('position %d is beyond the model\'s %d positions' % (t, len(state['positions'])))
    x = (sum(W[DEC + 'embed_tokens.%d.weight' % k][tokens[:, k]] for k in range(K)) + state['positions'][t])[:, None]
    for l in range(de['num_hidden_layers']):
        p = DEC + 'layers.%d.' % l
        y = layer_norm(W, p + 'self_attn_layer_norm', x)
        q = split_heads(linear(W, p + 'self_attn.q_proj', y) * scale, H)
        k, v = (split_heads(linear(W, p + 'self_attn.%s_proj' % n, y), H) for n in 'kv')
        if state['cache'][l] is not None:  # causal: the new position attends to all earlier ones
            k, v = np.concatenate([state['cache'][l][0], k], 2), np.concatenate([state['cache'][l][1], v], 2)
        state['cache'][l] = (k, v)
        x = x + linear(W, p + 'self_attn.out_proj', merge_heads(softmax(q @ k.transpose(0, 1, 3, 2)) @ v))
        y = layer_norm(W, p + 'encoder_attn_layer_norm', x)
        q = split_heads(linear(W, p + 'encoder_attn.q_proj', y) * scale, H)
        k, v = state['cross'][l]
        att = softmax(q @ k.transpose(0, 1, 3, 2) + state['cross_bias']) @ v
        x = x + linear(W, p + 'encoder_attn.out_proj', merge_heads(att))
        x = x + linear(W, p + 'fc2', act(linear(W, p + 'fc1', layer_norm(W, p + 'final_layer_norm', x))))
    state['t'] = t + 1
    x = layer_norm(W, DEC + 'layer_norm', x[:, 0])
    return np.stack([linear(W, 'decoder.lm_heads.%d' % k, x) for k in range(K)], 1)

# ----------------------------------------------------------------------------- delay pattern, generation
def codebook_delays(de):
    """Delay of each codebook: k (mono) or k // 2 (stereo: rows 2j / 2j+1 = left / right level j)."""
    return np.arange(de['num_codebooks']) // (2 if de.get('audio_channels', 1) == 2 else 1)

def is_flat(de, max_length):
    """Fewer than 2D - 1 columns: build_delay_pattern_mask returns the ids as they are (no pattern)."""
    return max_length < 2 * (codebook_delays(de).max() + 1) - 1

def delay_pattern(de, max_length):
    """build_delay_pattern_mask without audio prompt -> [K, max_length]: -1 = predicted, else pad id V
    (only the start column when the window is too short for the pattern)."""
    delays = codebook_delays(de)[:, None]
    D, col = delays.max() + 1, np.arange(max_length)[None, :]
    if is_flat(de, max_length):
        return np.where(col + 0 * delays == 0, de['vocab_size'], -1)
    return np.where((col <= delays) | (col >= max_length - D + 1 + delays), de['vocab_size'], -1)

def generate(W, cfg, ids_list, steps, guidance_scale):
    """Greedy generation for one id list per item ([] = null condition; all [] = no guidance, as
    get_unconditional_inputs). Returns (sequences [B, K, 1+steps] with the pattern applied,
    guided scores [steps, B, K, V], pattern [K, 1+steps])."""
    de, B = cfg['decoder'], len(ids_list)
    pattern = delay_pattern(de, 1 + steps)
    enc, emask = encoder_states(W, cfg, ids_list) if any(ids_list) else \
        (np.zeros((B, 1, de['hidden_size'])), np.zeros((B, 1)))  # get_unconditional_inputs
    use_cfg = any(ids_list) and guidance_scale is not None and guidance_scale > 1
    if use_cfg:  # rows B..2B-1: zeros_like states and mask
        enc, emask = np.concatenate([enc, 0 * enc]), np.concatenate([emask, 0 * emask])
    state = decoder_start(W, de, enc, emask)
    seq = np.full((B, de['num_codebooks'], 1), de['vocab_size'], np.int64)  # decoder_start_token_id = V
    scores = []
    for s in range(steps):
        col = seq[:, :, -1]
        logits = decoder_step(W, de, state, np.concatenate([col, col]) if use_cfg else col)
        scores.append(logits[B:] + guidance_scale * (logits[:B] - logits[B:]) if use_cfg else logits)
        nxt = np.where(pattern[:, s + 1] >= 0, pattern[:, s + 1], scores[-1].argmax(-1))
        seq = np.concatenate([seq, nxt[:, :, None]], 2)
    return seq, np.array(scores), pattern

def undelay(de, seq):
    """Remove the pattern: codes[b, k, f] = seq[b, k, f + delay(k) + 1] -> [B, K, columns - D] int64
    (every column after the start one when there was no pattern)."""
    if is_flat(de, seq.shape[2]):
        return seq[:, :, 1:].astype(np.int64)
    delays = codebook_delays(de)
    frames = seq.shape[2] - 1 - delays.max()  # = 1 + steps - D
    return np.stack([seq[:, k, d + 1:d + 1 + frames] for k, d in enumerate(delays)], 1).astype(np.int64)

def greedy_codes(model_dir, prompts, steps, musicgen_bin=None, guidance_scale=None):
    """Greedy codes for prompts ("" = null condition; all "" = unconditional, no guidance) after `steps`
    decoder steps; guidance_scale defaults to generation_config.json's. Returns
    (codes [B, K, steps + 1 - D] int64 (steps when too few for the pattern), smallest top-1/top-2 gap of
    the guided scores)."""
    W, cfg, gen = load_model(model_dir)
    if guidance_scale is None:
        guidance_scale = gen.get('guidance_scale') or 1.0
    texts = [p for p in prompts if p != '']
    ids = iter(tokenize(model_dir, texts, musicgen_bin) if texts else [])
    seq, scores, pattern = generate(W, cfg, [next(ids) if p != '' else [] for p in prompts], steps, guidance_scale)
    top = np.sort(scores, -1)
    kept = (pattern[:, 1:] < 0).T[:, None, :]  # [steps, 1, K]: only predicted, not pattern-forced, positions
    return undelay(cfg['decoder'], seq), float(np.where(kept, top[..., -1] - top[..., -2], np.inf).min())

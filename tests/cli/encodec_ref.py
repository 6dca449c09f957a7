"""encodec_ref.py — an independent float64 numpy transcription of transformers'
EncodecModel (models/encodec/modeling_encodec.py) as MusicGen uses it: the SEANet
encoder / decoder with weight-normed convs (weight_g / weight_v,
parametrizations.weight.original0 / 1 or a plain weight), causal or centred padding
(reflect, constant, replicate), trim_right_ratio, conv shortcuts, the LSTM block and
the residual vector quantizer. Test-side only (test_codec_variants.py): it checks
codec settings the golden fixtures do not cover, and is itself checked against the
fixtures' golden tensors there.

Not here (the engine refuses them): time_group_norm, normalize, chunk_length_s."""
import json
import math
import os
import struct

import numpy as np


def read_safetensors(path):
    """name -> numpy array (floats as float64)."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "F64": np.float64, "I32": np.int32}
    out = {}
    for k, t in hdr.items():
        if k == "__metadata__":
            continue
        s, e = t["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=dt[t["dtype"]])
        a = a.reshape(t["shape"])
        out[k] = a.astype(np.float64) if a.dtype.kind == "f" else a.copy()
    return out


def load_codec_weights(model_dir, prefix="audio_encoder."):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    W = {}
    for f in files:
        for k, v in read_safetensors(os.path.join(model_dir, f)).items():
            if k.startswith(prefix):
                W[k[len(prefix):]] = v
    return W


class Cfg:
    """EncodecConfig with its defaults (configuration_encodec.py)."""
    DEFAULTS = dict(target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0], sampling_rate=24000, audio_channels=1,
                    hidden_size=128, num_filters=32, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 2],
                    kernel_size=7, last_kernel_size=7, residual_kernel_size=3, dilation_growth_rate=2,
                    use_causal_conv=True, pad_mode="reflect", compress=2, num_lstm_layers=2, trim_right_ratio=1.0,
                    codebook_size=1024, codebook_dim=None, use_conv_shortcut=True)

    def __init__(self, d):
        for k, v in self.DEFAULTS.items():
            setattr(self, k, d.get(k, v))
        if self.codebook_dim is None:
            self.codebook_dim = self.hidden_size
        self.hop = int(np.prod(self.upsampling_ratios))
        self.frame_rate = math.ceil(self.sampling_rate / self.hop)
        self.num_quantizers = int(1000 * self.target_bandwidths[-1] // (self.frame_rate * 10))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def folded_weight(W, p):
    """weight_norm(dim=0): g * v / ||v||, the norm over every dim but 0."""
    for g, v in ((".weight_g", ".weight_v"),
                 (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
        if p + g in W:
            g, v = W[p + g], W[p + v]
            nrm = np.sqrt((v ** 2).reshape(v.shape[0], -1).sum(1)).reshape((-1,) + (1,) * (v.ndim - 1))
            return g * v / nrm
    return W[p + ".weight"]


class Conv:
    """EncodecConv1d."""

    def __init__(self, cfg, W, prefix, cin, cout, k, stride=1, dilation=1):
        self.causal, self.pad_mode = cfg.use_causal_conv, cfg.pad_mode
        self.w = folded_weight(W, prefix + ".conv")
        assert self.w.shape == (cout, cin, k), (prefix, self.w.shape, (cout, cin, k))
        self.b = W[prefix + ".conv.bias"]
        self.stride, self.dilation = stride, dilation
        self.k_eff = (k - 1) * dilation + 1
        self.pad_total = self.k_eff - stride

    def extra_padding(self, L):
        n = math.ceil((L - self.k_eff + self.pad_total) / self.stride + 1) - 1
        return n * self.stride + self.k_eff - self.pad_total - L

    def pad1d(self, x, pl, pr):
        if self.pad_mode == "constant":
            return np.pad(x, ((0, 0), (pl, pr)))
        if self.pad_mode == "replicate":
            return np.pad(x, ((0, 0), (pl, pr)), mode="edge")
        assert self.pad_mode == "reflect", self.pad_mode
        # _pad1d: zeros appended first when the signal is not longer than the pad
        extra = max(max(pl, pr) - x.shape[-1] + 1, 0)
        p = np.pad(np.pad(x, ((0, 0), (0, extra))), ((0, 0), (pl, pr)), mode="reflect")
        return p[:, :p.shape[-1] - extra]

    def __call__(self, x):
        ex = self.extra_padding(x.shape[-1])
        if self.causal:
            x = self.pad1d(x, self.pad_total, ex)
        else:
            pr = self.pad_total // 2
            x = self.pad1d(x, self.pad_total - pr, pr + ex)
        cout, cin, k = self.w.shape
        n = (x.shape[-1] - self.k_eff) // self.stride + 1
        y = np.zeros((cout, n)) + self.b[:, None]
        for i in range(k):
            s = i * self.dilation
            y += self.w[:, :, i] @ x[:, s:s + (n - 1) * self.stride + 1:self.stride]
        return y


class ConvT:
    """EncodecConvTranspose1d."""

    def __init__(self, cfg, W, prefix, cin, cout, k, stride):
        self.causal, self.ratio = cfg.use_causal_conv, cfg.trim_right_ratio
        self.w = folded_weight(W, prefix + ".conv")
        assert self.w.shape == (cin, cout, k), (prefix, self.w.shape)
        self.b = W[prefix + ".conv.bias"]
        self.k, self.stride = k, stride

    def __call__(self, x):
        L, s, k = x.shape[1], self.stride, self.k
        y = np.zeros((self.w.shape[1], (L - 1) * s + k)) + self.b[:, None]
        for i in range(k):
            y[:, i:i + (L - 1) * s + 1:s] += self.w[:, :, i].T @ x
        pad_total = k - s
        pr = math.ceil(pad_total * self.ratio) if self.causal else pad_total // 2
        return y[:, pad_total - pr:y.shape[-1] - pr]


class LSTM:
    """EncodecLSTM: nn.LSTM (gates i, f, g, o; zero initial state) + the input."""

    def __init__(self, W, prefix, n_layers):
        self.layers = [(W["%s.lstm.weight_ih_l%d" % (prefix, l)], W["%s.lstm.weight_hh_l%d" % (prefix, l)],
                        W["%s.lstm.bias_ih_l%d" % (prefix, l)] + W["%s.lstm.bias_hh_l%d" % (prefix, l)])
                       for l in range(n_layers)]

    def __call__(self, x):
        h_in = x.T
        for wih, whh, b in self.layers:
            pre = h_in @ wih.T + b
            H = whh.shape[1]
            h, c, out = np.zeros(H), np.zeros(H), np.zeros((h_in.shape[0], H))
            for t in range(h_in.shape[0]):
                i, f, g, o = np.split(pre[t] + whh @ h, 4)
                c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                h = sigmoid(o) * np.tanh(c)
                out[t] = h
            h_in = out
        return h_in.T + x


class ResBlock:
    """EncodecResnetBlock: shortcut(x) + conv1x1(ELU(conv_k(ELU(x))))."""

    def __init__(self, cfg, W, prefix, dim, dilation):
        hidden = dim // cfg.compress
        self.a = Conv(cfg, W, prefix + ".block.1", dim, hidden, cfg.residual_kernel_size, dilation=dilation)
        self.b = Conv(cfg, W, prefix + ".block.3", hidden, dim, 1)
        self.shortcut = Conv(cfg, W, prefix + ".shortcut", dim, dim, 1) if cfg.use_conv_shortcut else None

    def __call__(self, x):
        h = self.b(elu(self.a(elu(x))))
        return (self.shortcut(x) if self.shortcut else x) + h


class EncodecRef:
    def __init__(self, model_dir):
        cj = json.load(open(os.path.join(model_dir, "config.json")))
        self.cfg = c = Cfg(cj.get("audio_encoder", cj))
        W = load_codec_weights(model_dir)
        F, nres = c.num_filters, c.num_residual_layers
        enc, i = [Conv(c, W, "encoder.layers.0", c.audio_channels, F, c.kernel_size)], 1
        scale = 1
        for ratio in reversed(c.upsampling_ratios):
            cur = scale * F
            for j in range(nres):
                enc.append(ResBlock(c, W, "encoder.layers.%d" % i, cur, c.dilation_growth_rate ** j))
                i += 1
            enc += [elu, Conv(c, W, "encoder.layers.%d" % (i + 1), cur, 2 * cur, 2 * ratio, stride=ratio)]
            i += 2
            scale *= 2
        enc += [LSTM(W, "encoder.layers.%d" % i, c.num_lstm_layers), elu,
                Conv(c, W, "encoder.layers.%d" % (i + 2), scale * F, c.hidden_size, c.last_kernel_size)]
        self.enc = enc
        dec = [Conv(c, W, "decoder.layers.0", c.hidden_size, scale * F, c.kernel_size),
               LSTM(W, "decoder.layers.1", c.num_lstm_layers)]
        i = 2
        for ratio in c.upsampling_ratios:
            cur = scale * F
            dec += [elu, ConvT(c, W, "decoder.layers.%d" % (i + 1), cur, cur // 2, 2 * ratio, ratio)]
            i += 2
            for j in range(nres):
                dec.append(ResBlock(c, W, "decoder.layers.%d" % i, cur // 2, c.dilation_growth_rate ** j))
                i += 1
            scale //= 2
        dec += [elu, Conv(c, W, "decoder.layers.%d" % (i + 1), F, c.audio_channels, c.last_kernel_size)]
        self.dec = dec
        self.embed = [W["quantizer.layers.%d.codebook.embed" % l] for l in range(c.num_quantizers)]

    def n_codes(self):
        """Quantizers used at target_bandwidths[0] (get_num_quantizers_for_bandwidth)."""
        c = self.cfg
        nq = int(max(1, math.floor(c.target_bandwidths[0] * 1000 / (math.log2(c.codebook_size) * c.frame_rate))))
        return min(nq, c.num_quantizers)

    def encode(self, x, nq=None):
        """x [channels, samples] -> (codes [nq, frames], relative margin of each choice)."""
        e = x
        for layer in self.enc:
            e = layer(e)
        res, codes, margins = e.T.copy(), [], []
        for l in range(nq or self.n_codes()):
            E = self.embed[l]
            score = 2 * res @ E.T - (E ** 2).sum(1)[None]  # -distance + |res|^2
            idx = score.argmax(1)
            top2 = np.sort(score, 1)[:, -2:]
            margins.append((top2[:, 1] - top2[:, 0]) / ((res ** 2).sum(1) + 1e-30))
            codes.append(idx)
            res = res - E[idx]
        return np.stack(codes), np.stack(margins)

    def decode(self, codes):
        """codes [nq, frames] -> audio [channels, frames * hop]."""
        y = sum(self.embed[l][codes[l]] for l in range(codes.shape[0])).T
        for layer in self.dec:
            y = layer(y)
        return y

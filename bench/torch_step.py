#!/usr/bin/env python3
"""PyTorch eager comparator for bench/step.ts: the same models, shapes, optimizer and MQAR batch shape, for every mixer.

  python3 bench/torch_step.py [--mixers all|attention,based,...] [--batches 64,256] [--steps 30] [--warmup 5]
        [--seq-len 256] [--d-model 128] [--vocab 8192] [--kv 16] [--dropout 0.1] [--device cuda|cpu]
        [--heads supervised,full] [--compile | --compile-only] [--compile-heads supervised] [--out torch.json]
  python3 bench/torch_step.py --check          fast forms vs per-timestep references, on CPU, float64 and float32
  python3 bench/torch_step.py --notes          where a torch form is not recallbench's function exactly
On the GPU host: bash bench/gpu_session.sh torch (every mixer, eager: ~1.5 min on an H200); TORCH_MIXERS=a,b,
TORCH_FLAGS='--compile' (each compiled (mixer, batch) costs ~10–40 s of compilation) and TORCH_TIMEOUT=seconds
(default 200) adjust it.

Models (fp32, no TF32, eager — no fused SDPA, no custom kernels): the LM of bench/step.ts (engine/model.ts's
'prenorm' block): x = dropout(E[tokens] (+ P[positions])); for each of 2 layers: x += mixer(LN(x)); h = LN(x); tied
head. Every mixer with recallbench's default hyperparameters (architectures/<name>.ts), as bench/step.ts builds it:
  attention       [MHA, MHA], 1 head, attention dropout 0.1, learned positions (zoology-fig2): zoology's
                  SelfAttention (explicit softmax of q kᵀ/√d_h plus a causal mask).
  based           [BaseConv (short causal depthwise conv k3, y = proj(u) * conv(u) + u),
                  Taylor linear attention f 16, 1 head], no positions: φ(x) = [1, x/f^¼, upper-triangle of x xᵀ/(√2·√f)
                  with the off-diagonal ×√2] (F = 153, as recallbench), causal quadratic form
                  y = (A ⊙ tril) v / (rowsum + eps), A = φ(q) φ(k)ᵀ.
  baseconv        [BaseConv k3, BaseConv k3].
  linear-attention [Taylor linear attention, ×2] (the layer of 'based').
  sliding-window  window 64, 1 head, dropout 0.1: blocked (blocks of w queries against their block and the one
                  before: O(T·w)).
  hyena           zoology_port.Hyena (order 2, filter order 64, short conv 3): FFT long conv.
  h3              zoology_port.H3 (state 64, head_dim 1): shift-SSM and S4D kernels, FFT long convs; S4D init as
                  ops/ssmKernel (log Δ ~ U[log 1e-3, log 1e-1], A = −½ + iπn, C ~ N(0, ½)).
  jrt-rnn         prefix linear attention, Taylor f 16, 1 head, prefix = MQAR's kv block (2K): quadratic form
                  (1 + s + s²/2 kernel, s = q·k/√f) over the causal decoder keys plus the non-causal encoder keys.
  gla             4 heads, d_k 16, d_v 32, low-rank (16) gate logsigmoid/16, RMSNorm + swish output gate: chunked
                  form (chunk 16: q·e^b, k·e^−b inside a chunk, b the in-chunk cumulative gate), the chunks' start
                  states in parallel (an [N, N] decay per key channel, one einsum).
  deltanet        4 heads, d_k = d_v = 32, SiLU short convs k4, L2-normed q, k, β = σ(x W_β): chunked WY form
                  (chunk 16: (I + tril(β K Kᵀ, −1))⁻¹ as a nilpotent product series, log₂16 batched matmuls), the
                  chunk states by a Hillis–Steele scan over chunks (matrix transitions I − kᵀw).
  gated-deltanet  4 heads, d_k 32, d_v 64, g = −e^{A_log}·softplus(x W_a + b_Δ), output gate: chunked WY form with
                  decay (fla's chunk_gated_delta_rule reference form), chunk states by the same matrix scan.
  rwkv7           RWKV-7 time mixing as architectures/rwkv7.ts ('prenorm': 4 heads, LoRA ranks 16 / 16 / 56 at d 128):
                  the generalized delta rule chunked (chunk 16: pairwise in-chunk decays [C, C, d_k] as
                  ops/generalizedDeltaRule/chunk.ts, (I − Mab)⁻¹ by the nilpotent series, chunk states by the matrix
                  scan), group norm per head, bonus, output gate.
  rwkv            RWKV-4 time mixing (zoology_port.RWKVTimeMixer's parameters, RWKV's per-layer init): WKV chunked in
                  log space (chunk 16: an exact max-shifted [C, C] weight block per channel inside a chunk; the
                  chunks' start sums likewise over [N, N] chunk pairs — no loop).
  mamba           Mamba-1 (E 256, N 16, conv 4, dt rank 8; zoology_port.Mamba's parameters): selective scan chunked
                  (chunk 16: h = e^Λ ⊙ cumsum(e^−Λ ⊙ Δx Bᵀ), Λ the in-chunk cumulative Δ·A; end states carried by a
                  loop over the chunks).
  mamba2          Mamba-2 (E 256, N 128, head 64, conv 4 on xBC, gated RMSNorm): SSD chunked form (ssd_minimal,
                  chunk 32, B and C shared by the heads: ngroups 1).
  m2              Monarch Mixer's causal mixer: Monarch in/out projections (4 blocks), short conv 3, implicit filter
                  (order 16, Sin ω 10) via zoology_port.Filter, FFT long conv.
  scatterbrain    window 64 local softmax (blocked, dropout 0.1) + Performer (f 24, cosh features) on the rest: the
                  low-rank part as one masked quadratic form at T = 256 (weights 1 − c inside the window, 1 before).
  bounded-cache   softmax attention under H2O's cache selection (C 64, recent 32, 1 head, dropout 0.1): the
                  selection computed causally on the device (a loop over T on [B·H, C] tensors, no gradient, replayed
                  from a CUDA graph on CUDA), then one masked softmax.
Loss: softmax cross-entropy. head 'supervised' = only the K supervised positions of each example go through the
tied head (what recallbench's training step does); head 'full' = logits at every position and ignore_index
-100 (what zoology does). AdamW(lr 1e-3, weight decay 0.1), PyTorch's default (foreach) implementation.
Timing: warm-up steps, then `steps` steps between two torch.cuda.synchronize() calls; ms/step = elapsed/steps.
--compile adds a torch.compile'd copy of each model (rows with variant 'compile', head 'supervised' unless
--compile-heads says otherwise; a failure — e.g. h3, whose complex S4D kernel inductor cannot generate — is recorded
under 'errors' and the run goes on). Eager rows carry variant 'eager'. The JSON is rewritten after every row, so a run cut
short keeps what finished. Differences from recallbench's functions are listed in mixer_notes (printed with --notes).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoology_port  # noqa: E402  (bench/zoology_port.py: Hyena, H3, Mamba, RWKV modules and references)


def mqar_batch(rng, batch, seq_len, kv, vocab):
    """MQAR as zoology/recallbench: kv block, then queries at front-loaded even slots; labels -100 elsewhere."""
    inputs = np.zeros((batch, seq_len), dtype=np.int64)
    labels = np.full((batch, seq_len), -100, dtype=np.int64)
    half = vocab // 2
    slots = (seq_len - 2 * kv) // 2
    weights = (np.arange(slots) + 1.0) ** (0.01 - 1)
    weights /= weights.sum()
    for b in range(batch):
        keys = rng.choice(np.arange(1, half), kv, replace=False)
        values = rng.choice(np.arange(half, vocab), kv, replace=False)
        inputs[b, 0:2 * kv:2] = keys
        inputs[b, 1:2 * kv:2] = values
        g = rng.choice(slots, kv, replace=False, p=weights)
        pos = 2 * kv + 2 * g
        inputs[b, pos] = keys
        labels[b, pos] = values
    return inputs, labels


class SelfAttention(nn.Module):
    """zoology.mixers.attention.MHA with SelfAttention (explicit softmax), 1 head by default."""

    def __init__(self, d, heads=1, dropout=0.1):
        super().__init__()
        self.heads = heads
        self.Wqkv = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, d = x.shape
        qkv = self.Wqkv(x).view(B, T, 3, self.heads, d // self.heads)
        q, k, v = qkv.unbind(dim=2)
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.einsum('bthd,bshd->bhts', q, k * scale)
        mask = torch.triu(torch.full((T, T), -10000.0, device=x.device), 1)
        attn = self.dropout(torch.softmax(scores + mask, dim=-1))
        y = torch.einsum('bhts,bshd->bthd', attn, v)
        return self.out_proj(y.reshape(B, T, d))


class BaseConv(nn.Module):
    """zoology.mixers.base_conv.BaseConv with a short convolution: y = proj(u) * conv(u) + u."""

    def __init__(self, d, kernel_size=3):
        super().__init__()
        self.projection = nn.Linear(d, d)
        self.conv = nn.Conv1d(d, d, kernel_size, groups=d, padding=kernel_size - 1)

    def forward(self, u):
        T = u.shape[1]
        conv = self.conv(u.transpose(1, 2))[..., :T].transpose(1, 2)
        return self.projection(u) * conv + u


class TaylorLinearAttention(nn.Module):
    """Based (zoology.mixers.based): Taylor feature map, causal, parallel (quadratic) form, no biases."""

    def __init__(self, d, feature_dim=16, heads=1, eps=1e-12):
        super().__init__()
        self.f, self.heads, self.eps = feature_dim, heads, eps
        self.proj_q = nn.Linear(d, feature_dim * heads, bias=False)
        self.proj_k = nn.Linear(d, feature_dim * heads, bias=False)
        self.proj_v = nn.Linear(d, d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        iu = torch.triu_indices(feature_dim, feature_dim)
        self.register_buffer('iu0', iu[0], persistent=False)
        self.register_buffer('iu1', iu[1], persistent=False)
        w = torch.where(iu[0] == iu[1], 1.0, math.sqrt(2.0))
        self.register_buffer('tri_scale', w / (math.sqrt(2.0) * math.sqrt(feature_dim)), persistent=False)

    def phi(self, x):
        x2 = x[..., self.iu0] * x[..., self.iu1] * self.tri_scale
        return torch.cat([torch.ones_like(x[..., :1]), x / self.f ** 0.25, x2], dim=-1)

    def forward(self, x):
        B, T, d = x.shape
        H, f = self.heads, self.f
        q = self.phi(self.proj_q(x).view(B, T, H, f).transpose(1, 2))
        k = self.phi(self.proj_k(x).view(B, T, H, f).transpose(1, 2))
        v = self.proj_v(x).view(B, T, H, d // H).transpose(1, 2)
        A = torch.tril(q @ k.transpose(-1, -2))
        y = (A @ v) / (A.sum(-1, keepdim=True) + self.eps)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, d))


# ------------------------------------------------------------------------------------------ shared pieces


def _causal_mask(T, device, diagonal=1):
    return torch.triu(torch.ones(T, T, dtype=torch.bool, device=device), diagonal)


def rms_norm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def l2_normalize(x, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps)


def depthwise_conv(channels, kernel_size, bias=True):
    """A causal depthwise conv as torch's Conv1d (U(±1/√k) init); apply with short_conv."""
    return nn.Conv1d(channels, channels, kernel_size, groups=channels, padding=kernel_size - 1, bias=bias)


def short_conv(conv, x):
    """x [B, T, C] → causal depthwise conv [B, T, C]."""
    T = x.shape[1]
    return conv(x.transpose(1, 2))[..., :T].transpose(1, 2)


def fft_causal_conv(u, k):
    """u [B, T, C], k [C, T] → y_t = Σ_{s≤t} k[:, s] u_{t−s}, by FFT of size 2T."""
    T = u.shape[1]
    n = 2 * T
    y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=n) * torch.fft.rfft(k, n=n), n=n)[..., :T]
    return y.transpose(1, 2)


def _chunks(x, C, dim):
    """Pad dim to a multiple of C with zeros and split it into (N, C)."""
    T = x.shape[dim]
    N = -(-T // C)
    if N * C != T:
        pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [0, N * C - T]
        x = F.pad(x, pad)
    shape = list(x.shape)
    d = dim % x.dim()
    return x.reshape(shape[:d] + [N, C] + shape[d + 1:])


def taylor_kernel(qk, f):
    """φ(q)·φ(k) of the Taylor map from q·k: 1 + s + s²/2 with s = q·k/√f."""
    s = qk / math.sqrt(f)
    return 1 + s + 0.5 * s * s


# ------------------------------------------------------------------------------------------ sliding window


def sliding_window_attention(q, k, v, window, drop=None):
    """q, k, v [B, H, T, dh] → softmax over i − w ≤ j ≤ i, blocked: O(T·w)."""
    B, H, T, dh = q.shape
    scale = dh ** -0.5
    w = window
    if w >= T - 1:
        scores = (q @ k.transpose(-1, -2)) * scale
        scores = scores.masked_fill(_causal_mask(T, q.device), -1e9)
        a = torch.softmax(scores, -1)
        return (drop(a) if drop else a) @ v
    N = -(-T // w)
    qb = F.pad(q, (0, 0, 0, N * w - T)).view(B, H, N, w, dh)

    def pairs(t):
        p = F.pad(t, (0, 0, w, N * w - T))  # [B, H, (N+1)·w, dh]
        return torch.cat([p[:, :, : N * w].reshape(B, H, N, w, dh), p[:, :, w:].reshape(B, H, N, w, dh)], 3)

    kk, vv = pairs(k), pairs(v)
    r = torch.arange(w, device=q.device)[:, None]
    c = torch.arange(2 * w, device=q.device)[None]
    visible = (c >= r) & (c <= r + w)  # [w, 2w]
    visible = visible[None].expand(N, w, 2 * w).clone()
    visible[0, :, :w] = False  # block 0 has no block before it
    scores = (qb @ kk.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~visible, -1e9)
    a = torch.softmax(scores, -1)
    y = (drop(a) if drop else a) @ vv
    return y.reshape(B, H, N * w, dh)[:, :, :T]


def sliding_window_reference(q, k, v, window):
    """Per query: softmax over its window (the plain definition)."""
    B, H, T, dh = q.shape
    out = []
    for i in range(T):
        j0 = max(0, i - window)
        s = (q[:, :, i : i + 1] @ k[:, :, j0 : i + 1].transpose(-1, -2)) * dh ** -0.5
        out.append(torch.softmax(s, -1) @ v[:, :, j0 : i + 1])
    return torch.cat(out, 2)


class SlidingWindowAttention(nn.Module):
    def __init__(self, d, window=64, heads=1, dropout=0.1):
        super().__init__()
        self.heads, self.window = heads, window
        self.Wqkv = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.Wqkv(x).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = sliding_window_attention(q, k, v, self.window, self.dropout)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, d))


# ------------------------------------------------------------------------------------------ JRT-RNN


class JRTPrefixLinearAttention(nn.Module):
    """Prefix linear attention (architectures/jrtRnn.ts), Taylor kernel, quadratic form."""

    def __init__(self, d, prefix, feature_dim=16, heads=1, eps=1e-12):
        super().__init__()
        self.prefix, self.f, self.heads, self.eps = prefix, feature_dim, heads, eps
        self.proj_q = nn.Linear(d, feature_dim * heads, bias=False)
        self.proj_k = nn.Linear(d, feature_dim * heads, bias=False)
        self.proj_v = nn.Linear(d, d, bias=False)
        self.proj_k_enc = nn.Linear(d, feature_dim * heads, bias=False)
        self.proj_v_enc = nn.Linear(d, d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        B, T, d = x.shape
        H, f = self.heads, self.f
        heads = lambda t, w: t.view(B, t.shape[1], H, w).transpose(1, 2)
        q, k, v = heads(self.proj_q(x), f), heads(self.proj_k(x), f), heads(self.proj_v(x), d // H)
        y = jrt_attention(q, k, v, *self._encoder(x), f, self.eps)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, d))

    def _encoder(self, x):
        B, T, d = x.shape
        M = max(0, min(self.prefix, T))
        if M == 0:
            return None, None
        xe = x[:, :M]
        heads = lambda t, w: t.view(B, M, self.heads, w).transpose(1, 2)
        return heads(self.proj_k_enc(xe), self.f), heads(self.proj_v_enc(xe), d // self.heads)


def jrt_attention(q, k, v, ke, ve, f, eps):
    """y_i = Σ_{j≤i} K(q_i, k_j) v_j + Σ_{j<M} K(q_i, ke_j) ve_j over the same sums of K, K = Taylor kernel."""
    T = q.shape[2]
    A = taylor_kernel(q @ k.transpose(-1, -2), f).masked_fill(_causal_mask(T, q.device), 0.0)
    num, den = A @ v, A.sum(-1, keepdim=True)
    if ke is not None:
        Ae = taylor_kernel(q @ ke.transpose(-1, -2), f)
        num, den = num + Ae @ ve, den + Ae.sum(-1, keepdim=True)
    return num / (den + eps)


def taylor_features(x):
    f = x.shape[-1]
    iu = torch.triu_indices(f, f)
    w = torch.where(iu[0] == iu[1], 1.0, math.sqrt(2.0)).double().to(x)
    w[iu[0] != iu[1]] = math.sqrt(2.0)  # exact in float64
    w = w / (math.sqrt(2.0) * math.sqrt(f))
    return torch.cat([torch.ones_like(x[..., :1]), x / f ** 0.25, x[..., iu[0]] * x[..., iu[1]] * w], -1)


def jrt_reference(q, k, v, ke, ve, f, eps):
    """The recurrent view: prefill S_e, z_e from the encoder's explicit features, then step token by token."""
    pq, pk = taylor_features(q), taylor_features(k)
    S = torch.zeros(*q.shape[:2], pq.shape[-1], v.shape[-1], dtype=q.dtype)
    z = torch.zeros(*q.shape[:2], pq.shape[-1], dtype=q.dtype)
    if ke is not None:
        pe = taylor_features(ke)
        S, z = S + pe.transpose(-1, -2) @ ve, z + pe.sum(2)
    out = []
    for t in range(q.shape[2]):
        S = S + pk[:, :, t, :, None] * v[:, :, t, None, :]
        z = z + pk[:, :, t]
        num = (pq[:, :, t, None, :] @ S)[:, :, 0]
        den = (pq[:, :, t] * z).sum(-1, keepdim=True)
        out.append(num / (den + eps))
    return torch.stack(out, 2)


# ------------------------------------------------------------------------------------------ GLA


def gla_chunked(q, k, v, g, C=16):
    """q, k [B, H, T, dk] (q pre-scaled), v [B, H, T, dv], g [B, H, T, dk] log forget gates (≤ 0) →
    o_t = S_tᵀ q_t, S_t = diag(e^{g_t}) S_{t−1} + k_t v_tᵀ. Chunked: inside a chunk q·e^b and k·e^−b (b the in-chunk
    inclusive cumsum of g), the chunk states in parallel from the chunks' own sums (a [N, N] decay per key channel)."""
    B, H, T, dk = q.shape
    q, k, v, g = (_chunks(t, C, 2) for t in (q, k, v, g))  # [B, H, N, C, ·]
    N = q.shape[2]
    b = g.cumsum(3)
    qe, ke = q * b.exp(), k * (-b).exp()
    A = (qe @ ke.transpose(-1, -2)).masked_fill(_causal_mask(C, q.device), 0.0)
    o = A @ v
    last = b[:, :, :, -1:]  # [B, H, N, 1, dk]
    local = (k * (last - b).exp()).transpose(-1, -2) @ v  # [B, H, N, dk, dv]: chunk n's sum at its end
    # chunk n's start state = Σ_{m<n} diag(e^{c_{n−1} − c_m}) local_m, c the inclusive cumsum of the chunk totals
    c = last.squeeze(3).cumsum(2)  # [B, H, N, dk]
    c_prev = F.pad(c, (0, 0, 1, 0))[:, :, :-1]
    pair = (c_prev[:, :, :, None] - c[:, :, None]).masked_fill(_causal_mask(N, q.device, 0)[:, :, None], float('-inf')).exp()
    o = o + qe @ torch.einsum('bhnmk,bhmkv->bhnkv', pair, local)
    return o.reshape(B, H, N * C, -1)[:, :, :T]


def gla_reference(q, k, v, g):
    B, H, T, dk = q.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=q.dtype)
    out = []
    for t in range(T):
        S = g[:, :, t, :, None].exp() * S + k[:, :, t, :, None] * v[:, :, t, None, :]
        out.append((q[:, :, t, None, :] @ S)[:, :, 0])
    return torch.stack(out, 2)


class GLA(nn.Module):
    def __init__(self, d, heads=4, expand_k=0.5, expand_v=1.0, gate_rank=16, gate_norm=16.0, chunk=16):
        super().__init__()
        self.H, self.kd, self.vd, self.tau, self.chunk = heads, int(d * expand_k), int(d * expand_v), gate_norm, chunk
        self.q_proj = nn.Linear(d, self.kd, bias=False)
        self.k_proj = nn.Linear(d, self.kd, bias=False)
        self.v_proj = nn.Linear(d, self.vd, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(d, gate_rank, bias=False), nn.Linear(gate_rank, self.kd))
        self.g_proj = nn.Linear(d, self.vd, bias=False)
        self.g_norm = nn.Parameter(torch.ones(self.vd // heads))
        self.o_proj = nn.Linear(self.vd, d, bias=False)

    def forward(self, x):
        B, T, d = x.shape
        H, dk = self.H, self.kd // self.H
        heads = lambda t: t.view(B, T, H, -1).transpose(1, 2)
        g = F.logsigmoid(self.gk_proj(x)) / self.tau
        o = gla_chunked(heads(self.q_proj(x) * dk ** -0.5), heads(self.k_proj(x)), heads(self.v_proj(x)), heads(g), self.chunk)
        y = rms_norm(o.transpose(1, 2), self.g_norm).reshape(B, T, self.vd) * F.silu(self.g_proj(x))
        return self.o_proj(y)


# ------------------------------------------------------------------------------------------ DeltaNet, Gated DeltaNet


def _unit_lower_inverse(A):
    """(I + A)⁻¹ for A strictly lower triangular [.., C, C]: A is nilpotent (A^C = 0), so
    (I + A)⁻¹ = Σ_{j<C} (−A)^j = (I − A)(I + A²)(I + A⁴)… — log₂C rounds of batched matmuls (a triangular solve of
    many tiny systems, or fla's row-by-row substitution, is far slower on a GPU)."""
    C = A.shape[-1]
    eye = torch.eye(C, dtype=A.dtype, device=A.device)
    inv = eye - A
    p, span = A @ A, 2
    while span < C:
        inv = inv @ (eye + p)
        span *= 2
        if span < C:
            p = p @ p
    return inv


def _matrix_scan(Amat, b):
    """S_{n+1} = A_n S_n + b_n from S_0 = 0 over dim 2 (chunks): A [.., N, k, k], b [.., N, k, v] → the states at each
    chunk's start, S_0 … S_{N−1}. Hillis–Steele scan: log₂N rounds of batched matmuls instead of a loop over chunks."""
    N = b.shape[2]
    shift = 1
    while shift < N:
        A_prev = torch.cat([torch.eye(Amat.shape[-1], dtype=Amat.dtype, device=Amat.device).expand_as(Amat[:, :, :shift]), Amat[:, :, :-shift]], 2)
        b_prev = torch.cat([torch.zeros_like(b[:, :, :shift]), b[:, :, :-shift]], 2)
        Amat, b = Amat @ A_prev, Amat @ b_prev + b
        shift *= 2
    return torch.cat([torch.zeros_like(b[:, :, :1]), b[:, :, :-1]], 2)


def delta_rule_chunked(q, k, v, beta, C=16):
    """S_t = S_{t−1} − β_t k_t (k_tᵀ S_{t−1} − v_tᵀ), o_t = S_tᵀ q_t; q, k [B, H, T, dk], v [B, H, T, dv], β [B, H, T].
    Chunked WY form: u = T⁻¹(β v), w = T⁻¹(β k), T = I + tril(diag(β) K Kᵀ, −1); per chunk
    o = q S + tril(q kᵀ)(u − w S), S += kᵀ (u − w S) — the chunk states by a parallel (Hillis–Steele) scan."""
    B, H, T, dk = q.shape
    dv = v.shape[-1]
    q, k, v, beta = (_chunks(t, C, 2) for t in (q, k, v, beta))
    N = q.shape[2]
    kb = k * beta[..., None]
    Tinv = _unit_lower_inverse((kb @ k.transpose(-1, -2)).masked_fill(_causal_mask(C, q.device, 0), 0.0))
    u, w = Tinv @ (v * beta[..., None]), Tinv @ kb
    kT = k.transpose(-1, -2)
    # chunk to chunk: S' = S + kᵀ(u − w S) = (I − kᵀw) S + kᵀu, by a parallel scan over the chunks
    eye = torch.eye(dk, dtype=q.dtype, device=q.device)
    S = _matrix_scan(eye - kT @ w, kT @ u)  # [B, H, N, dk, dv]: the state at each chunk's start
    qk = (q @ kT).masked_fill(_causal_mask(C, q.device), 0.0)
    o = q @ S + qk @ (u - w @ S)
    return o.reshape(B, H, N * C, dv)[:, :, :T]


def delta_rule_reference(q, k, v, beta):
    B, H, T, dk = q.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=q.dtype)
    out = []
    for t in range(T):
        kt, vt, bt = k[:, :, t], v[:, :, t], beta[:, :, t, None, None]
        S = S - bt * kt[..., None] * ((kt[:, :, None, :] @ S) - vt[:, :, None, :])
        out.append((q[:, :, t, None, :] @ S)[:, :, 0])
    return torch.stack(out, 2)


def gated_delta_rule_chunked(q, k, v, beta, g, C=16):
    """S_t = e^{g_t} (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t; g [B, H, T] log decays. Chunked WY
    form with decay (fla's chunk_gated_delta_rule reference): G the in-chunk cumsum of g, L_ij = e^{G_i − G_j}."""
    B, H, T, dk = q.shape
    dv = v.shape[-1]
    q, k, v, beta, g = (_chunks(t, C, 2) for t in (q, k, v, beta, g))
    N = q.shape[2]
    G = g.cumsum(-1)  # [B, H, N, C]
    upper = _causal_mask(C, q.device)
    L = (G[..., :, None] - G[..., None, :]).masked_fill(upper, float('-inf')).exp()  # [B, H, N, C, C]
    kb = k * beta[..., None]
    Tinv = _unit_lower_inverse(((kb @ k.transpose(-1, -2)) * L).masked_fill(_causal_mask(C, q.device, 0), 0.0))
    u, w = Tinv @ (v * beta[..., None]), Tinv @ (kb * G.exp()[..., None])
    Glast = G[..., -1:]  # [B, H, N, 1]
    kdT = (k * (Glast - G).exp()[..., None]).transpose(-1, -2)
    # chunk to chunk: S' = e^{G_last} S + kdᵀ(u − w S) = (e^{G_last} I − kdᵀ w) S + kdᵀ u, by a parallel scan
    eye = torch.eye(dk, dtype=q.dtype, device=q.device)
    S = _matrix_scan(Glast[..., None].exp() * eye - kdT @ w, kdT @ u)
    qk = (q @ k.transpose(-1, -2)) * L
    o = (q * G.exp()[..., None]) @ S + qk @ (u - w @ S)
    return o.reshape(B, H, N * C, dv)[:, :, :T]


def gated_delta_rule_reference(q, k, v, beta, g):
    B, H, T, dk = q.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=q.dtype)
    out = []
    for t in range(T):
        kt, vt, bt = k[:, :, t], v[:, :, t], beta[:, :, t, None, None]
        S = g[:, :, t, None, None].exp() * (S - bt * kt[..., None] * (kt[:, :, None, :] @ S)) + bt * kt[..., None] * vt[:, :, None, :]
        out.append((q[:, :, t, None, :] @ S)[:, :, 0])
    return torch.stack(out, 2)


class DeltaNet(nn.Module):
    def __init__(self, d, heads=4, expand_k=1.0, expand_v=1.0, conv=4, chunk=16):
        super().__init__()
        self.H, self.kd, self.vd, self.chunk = heads, int(d * expand_k), int(d * expand_v), chunk
        self.q_proj = nn.Linear(d, self.kd, bias=False)
        self.k_proj = nn.Linear(d, self.kd, bias=False)
        self.v_proj = nn.Linear(d, self.vd, bias=False)
        self.b_proj = nn.Linear(d, heads, bias=False)
        self.q_conv1d = depthwise_conv(self.kd, conv, bias=False)
        self.k_conv1d = depthwise_conv(self.kd, conv, bias=False)
        self.v_conv1d = depthwise_conv(self.vd, conv, bias=False)
        self.o_norm = nn.Parameter(torch.ones(self.vd // heads))
        self.o_proj = nn.Linear(self.vd, d, bias=False)

    def qkv(self, x):
        B, T, d = x.shape
        heads = lambda t: t.view(B, T, self.H, -1).transpose(1, 2)
        q = heads(F.silu(short_conv(self.q_conv1d, self.q_proj(x))))
        k = heads(F.silu(short_conv(self.k_conv1d, self.k_proj(x))))
        v = heads(F.silu(short_conv(self.v_conv1d, self.v_proj(x))))
        return l2_normalize(q) * q.shape[-1] ** -0.5, l2_normalize(k), v

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.qkv(x)
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)
        o = delta_rule_chunked(q, k, v, beta, self.chunk)
        return self.o_proj(rms_norm(o.transpose(1, 2), self.o_norm).reshape(B, T, self.vd))


class GatedDeltaNet(DeltaNet):
    def __init__(self, d, heads=4, expand_v=2, conv=4, chunk=16):
        super().__init__(d, heads, 1.0, expand_v, conv, chunk)
        self.a_proj = nn.Linear(d, heads, bias=False)
        self.A_log = nn.Parameter(torch.empty(heads))
        self.dt_bias = nn.Parameter(torch.empty(heads))
        self.g_proj = nn.Linear(d, self.vd, bias=False)
        self.reset_special()

    def reset_special(self):
        with torch.no_grad():
            self.A_log.copy_(torch.empty_like(self.A_log).uniform_(0, 16).log())
            self.dt_bias.copy_(_inv_softplus_dt(self.dt_bias.shape))

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.qkv(x)
        beta = torch.sigmoid(self.b_proj(x)).transpose(1, 2)
        g = (-self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)).transpose(1, 2)
        o = gated_delta_rule_chunked(q, k, v, beta, g, self.chunk).transpose(1, 2)  # [B, T, H, dv]
        y = rms_norm(o, self.o_norm) * F.silu(self.g_proj(x)).view(B, T, self.H, -1)
        return self.o_proj(y.reshape(B, T, self.vd))


# ------------------------------------------------------------------------------------------ RWKV-7


def generalized_delta_rule_chunked(r, w, k, v, a, b, C=16):
    """S_t = (diag(e^{w_t}) + b_t a_tᵀ) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ r_t (RWKV-7); r, w, k, a, b [B, H, T, dk],
    v [B, H, T, dv], w ≤ 0. Chunked as ops/generalizedDeltaRule/chunk.ts (fla's chunk_dplr algebra with pairwise
    decays): per chunk, with Γ the in-chunk cumulative w (Γ⁻ the exclusive one),
      Mab_ts = Σ_i a_ti b_si e^{Γ⁻_ti − Γ_si} (s < t), Mak with k;  Prb_ts = Σ_i r_ti b_si e^{Γ_ti − Γ_si} (s ≤ t), Prk
      W = (I − Mab)⁻¹ (a ⊙ e^{Γ⁻}),  U₀ = (I − Mab)⁻¹ Mak V
      o = (r ⊙ e^{Γ} + Prb W) S₀ + Prk V + Prb U₀,   S' = (diag(e^{Γ_C}) + B̄ᵀ W) S₀ + K̄ᵀ V + B̄ᵀ U₀
    (K̄, B̄ = K, B ⊙ e^{Γ_C − Γ}); the chunk-start states S₀ by the parallel matrix scan over chunks. Every exponent
    is a decay sum over a forward stretch (≤ 0): the pairwise ones masked to −inf before the exp."""
    B, H, T, dk = r.shape
    dv = v.shape[-1]
    r, w, k, v, a, b = (_chunks(t, C, 2) for t in (r, w, k, v, a, b))  # [B, H, N, C, ·]
    g_in = w.cumsum(-2)
    g_ex = g_in - w
    g_last = g_in[..., -1:, :]  # [B, H, N, 1, dk]
    keep_strict = torch.ones(C, C, dtype=torch.bool, device=r.device).tril(-1)[:, :, None]
    keep_incl = torch.ones(C, C, dtype=torch.bool, device=r.device).tril(0)[:, :, None]
    strict = (g_ex[..., :, None, :] - g_in[..., None, :, :]).masked_fill(~keep_strict, float('-inf')).exp()  # [.., C, C, dk]
    incl = (g_in[..., :, None, :] - g_in[..., None, :, :]).masked_fill(~keep_incl, float('-inf')).exp()
    a_strict = a[..., :, None, :] * strict
    r_incl = r[..., :, None, :] * incl
    Mab = (a_strict * b[..., None, :, :]).sum(-1)  # [.., C(t), C(s)]
    Mak = (a_strict * k[..., None, :, :]).sum(-1)
    Prb = (r_incl * b[..., None, :, :]).sum(-1)
    Prk = (r_incl * k[..., None, :, :]).sum(-1)
    Tinv = _unit_lower_inverse(-Mab)  # (I − Mab)⁻¹
    W = Tinv @ (a * g_ex.exp())
    U0 = Tinv @ (Mak @ v)
    out_of_state = r * g_in.exp() + Prb @ W  # [.., C, dk]
    out_of_chunk = Prk @ v + Prb @ U0  # [.., C, dv]
    to_end = (g_last - g_in).exp()
    kbT, bbT = (k * to_end).transpose(-1, -2), (b * to_end).transpose(-1, -2)
    transition = torch.diag_embed(g_last[..., 0, :].exp()) + bbT @ W  # [.., dk, dk]
    S = _matrix_scan(transition, kbT @ v + bbT @ U0)  # [B, H, N, dk, dv]: the state at each chunk's start
    o = out_of_state @ S + out_of_chunk
    return o.reshape(B, H, -1, dv)[:, :, :T]


def generalized_delta_rule_reference(r, w, k, v, a, b):
    B, H, T, dk = r.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=r.dtype)
    out = []
    for t in range(T):
        removed = a[:, :, t, None, :] @ S  # u_tᵀ = a_tᵀ S_{t−1}  [B, H, 1, dv]
        S = w[:, :, t, :, None].exp() * S + k[:, :, t, :, None] * v[:, :, t, None, :] + b[:, :, t, :, None] * removed
        out.append((r[:, :, t, None, :] @ S)[:, :, 0])
    return torch.stack(out, 2)


def _fla_rank(c, d, f):
    """architectures/rwkv7.ts flaRank: fla's max(32, round(c·√d·f/32)·32) with 8 for 32."""
    return max(8, math.floor(c * math.sqrt(d) * f / 8 + 0.5) * 8)  # Math.round: ties up (Python's round: to even)


class RWKV7(nn.Module):
    """RWKV-7 time mixing as architectures/rwkv7.ts ('prenorm' block: 4 heads, fla's per-layer inits, LoRA ranks by
    flaRank): token shift, LoRA decay / in-context rate / gate, generalized delta rule (chunked), per-head group norm,
    bonus, output gate."""

    def __init__(self, d, layer, n_layers, heads=4, chunk=16):
        super().__init__()
        self.d, self.H, self.dk, self.chunk = d, heads, d // heads, chunk
        self.layer, self.n_layers = layer, n_layers
        f = self.dk / 64
        rd, ra, rg = _fla_rank(2.5, d, f), _fla_rank(2.5, d, f), _fla_rank(5, d, 1)
        self.mu = nn.Parameter(torch.zeros(6, d))  # x_r, x_w, x_k, x_v, x_a, x_g
        self.k_k = nn.Parameter(torch.zeros(d))
        self.k_a = nn.Parameter(torch.zeros(d))
        self.r_k = nn.Parameter(torch.zeros(heads, self.dk))
        self.r_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.w_down, self.w_up = nn.Linear(d, rd, bias=False), nn.Linear(rd, d)
        self.a_down, self.a_up = nn.Linear(d, ra, bias=False), nn.Linear(ra, d)
        self.g_down, self.g_up = nn.Linear(d, rg, bias=False), nn.Linear(rg, d, bias=False)
        self.norm_w = nn.Parameter(torch.ones(d))
        self.norm_b = nn.Parameter(torch.zeros(d))
        self.reset_special()

    def reset_special(self):
        d, dk, layer, n = self.d, self.dk, self.layer, self.n_layers
        r01 = layer / (n - 1) if n > 1 else 0.0
        r10 = 1 - layer / n
        ch = torch.arange(d, dtype=torch.float32)
        ramp = ch / (d - 1) - 0.5
        z0 = ((ch % dk) - (dk - 1) / 2) / ((dk - 1) / 2)
        zigzag = z0 * z0.abs()
        with torch.no_grad():
            for i, power in enumerate((0.2, 0.9, 0.7, 0.7, 0.9, 0.2)):
                self.mu[i].copy_(1 - (ch / d) ** (power * r10))
            self.k_k.copy_(0.71 - ramp * 0.1)
            self.k_a.fill_(1.02)
            self.r_k.fill_(-0.04)
            self.w_up.bias.copy_(-6 + 6 * (ch / (d - 1)) ** (1 + r01 ** 0.3) + 0.5 + zigzag * 2.5)
            self.a_up.bias.copy_(-0.19 + zigzag * 0.3 + ramp * 0.4)
            self.norm_w.fill_(((layer + 1) / n) ** 0.7)
            for lin, std in ((self.r_proj, d ** -0.5), (self.k_proj, 0.1 * d ** -0.5), (self.v_proj, d ** -0.5),
                             (self.o_proj, 0.02 / math.sqrt(2 * n)), (self.w_up, 0.1 * d ** -0.5),
                             (self.a_up, 0.1 * d ** -0.5), (self.g_up, 0.1 * d ** -0.5)):
                lin.weight.normal_(0, std)

    def forward(self, x):
        B, T, d = x.shape
        H, dk = self.H, self.dk
        prev = F.pad(x[:, :-1], (0, 0, 1, 0))
        xr, xw, xk, xv, xa, xg = (x + (prev - x) * mu for mu in self.mu)
        heads = lambda t: t.view(B, T, H, dk)
        r = self.r_proj(xr)
        w = -math.exp(-0.5) * torch.sigmoid(self.w_up(torch.tanh(self.w_down(xw))))
        k0, v = self.k_proj(xk), self.v_proj(xv)
        iclr = torch.sigmoid(self.a_up(self.a_down(xa)))
        g = self.g_up(torch.sigmoid(self.g_down(xg)))
        kappa = l2_normalize(heads(k0 * self.k_k))
        k = k0 * (1 + (iclr - 1) * self.k_a)
        to_op = lambda t: t.transpose(1, 2)  # [B, T, H, ·] → [B, H, T, ·]
        o = generalized_delta_rule_chunked(to_op(heads(r)), to_op(heads(w)), to_op(heads(k)), to_op(heads(v)),
                                           to_op(-kappa), to_op(kappa * heads(iclr)), self.chunk).transpose(1, 2)
        centred = o - o.mean(-1, keepdim=True)
        normed = centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + dk * 1e-5)
        affine = normed * self.norm_w.view(H, dk) + self.norm_b.view(H, dk)
        bonus = (heads(r) * heads(k) * self.r_k).sum(-1, keepdim=True) * heads(v)
        return self.o_proj((affine + bonus).reshape(B, T, d) * g)


def _inv_softplus_dt(shape, dt_min=1e-3, dt_max=0.1, floor=1e-4):
    dt = torch.exp(torch.rand(shape) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


# ------------------------------------------------------------------------------------------ RWKV-4


def wkv_chunked(w, u, k, v, C=16):
    """RWKV-4 WKV, w = −e^{time_decay} (< 0), u = time_first, k, v [B, T, D]:
    wkv_t = (Σ_{i<t} e^{(t−1−i)w + k_i} v_i + e^{u+k_t} v_t) / (same sums without v). Chunked in log space: inside a
    chunk the [C, C] weights per channel, max-shifted; across chunks the same in scaled (numerator, denominator,
    log-scale) form over [N, N] chunk pairs. Every shift is detached (it cancels exactly)."""
    B, T, D = k.shape
    k, v = _chunks(k, C, 1), _chunks(v, C, 1)  # [B, N, C, D]
    N = k.shape[1]
    dev, dt = k.device, k.dtype
    t = torch.arange(C, device=dev)
    dist = (t[:, None] - 1 - t[None, :]).to(dt)  # (τ − 1 − i)
    logits = dist[:, :, None] * w + k[:, :, None, :, :]  # [B, N, τ, i, D]
    eye = torch.eye(C, dtype=torch.bool, device=dev)[:, :, None]
    logits = torch.where(eye, (u + k)[:, :, :, None, :], logits)
    logits = logits.masked_fill(_causal_mask(C, dev)[:, :, None], float('-inf'))
    # each chunk's own sum at its end (the next chunk's start): weights e^{(C−1−i)w + k_i}
    end = (C - 1 - t).to(dt)[:, None] * w + k  # [B, N, C, D]
    m_loc = end.amax(2).detach()
    e = (end - m_loc[:, :, None]).exp()
    a_loc, b_loc = (e * v).sum(2), e.sum(2)  # [B, N, D]
    # chunk n's start: Σ_{m<n} e^{(n−1−m)·C·w} × chunk m's end sum, as a max-shifted [N, N] sum per channel
    nn_ = torch.arange(N, device=dev)
    gap = (nn_[:, None] - 1 - nn_[None, :]).to(dt)  # n − 1 − m
    lg = (m_loc[:, None] + gap[:, :, None] * (C * w)).masked_fill(_causal_mask(N, dev, 0)[:, :, None], float('-inf'))
    ms = lg.amax(2).clamp_min(-1e30).detach()  # [B, N, D]
    e = (lg - ms[:, :, None]).exp()
    as_, bs = (e * a_loc[:, None]).sum(2), (e * b_loc[:, None]).sum(2)
    carry = ms[:, :, None] + t.to(dt)[:, None] * w  # [B, N, τ, D]: the carried sums' log-scale at position τ
    M = torch.maximum(logits.amax(3), carry).detach()
    wts = (logits - M[:, :, :, None]).exp()  # [B, N, τ, i, D]
    sc = (carry - M).exp()
    num = (wts * v[:, :, None]).sum(3) + sc * as_[:, :, None]
    den = wts.sum(3) + sc * bs[:, :, None]
    return (num / den).reshape(B, N * C, D)[:, :T]


class RWKVTimeMix(zoology_port.RWKVTimeMixer):
    """zoology_port.RWKVTimeMixer's parameters with RWKV's per-layer init (architectures/rwkv.ts), chunked WKV."""

    def __init__(self, d, layer, n_layers, chunk=16):
        super().__init__(l_max=0, d_model=d, n_layer=n_layers, layer_idx=layer)
        self.chunk = chunk
        self.layer, self.n_layers = layer, n_layers
        self.reset_special()

    def reset_special(self):
        d, layer, n = self.key.in_features, self.layer, self.n_layers
        r01 = layer / (n - 1) if n > 1 else 0.0
        r10 = 1 - layer / n
        h = torch.arange(d, dtype=torch.float32)
        frac = h / d
        with torch.no_grad():
            self.time_decay.copy_(-5 + 8 * (h / max(1, d - 1)) ** (0.7 + 1.3 * r01))
            self.time_first.copy_(math.log(0.3) + (((h + 1) % 3) - 1) * 0.5)
            self.time_mix_k.copy_((frac ** r10).view(1, 1, d))
            self.time_mix_v.copy_((frac ** r10 + 0.3 * r01).view(1, 1, d))
            self.time_mix_r.copy_((frac ** (0.5 * r10)).view(1, 1, d))

    def forward(self, x):
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v, r = self.key(xk), self.value(xv), self.receptance(xr)
        return self.output(torch.sigmoid(r) * wkv_chunked(-torch.exp(self.time_decay), self.time_first, k, v, self.chunk))


# ------------------------------------------------------------------------------------------ Mamba


def selective_scan_chunked(x, dt, A, Bm, Cm, C=16):
    """h_t = e^{Δ_t A} ⊙ h_{t−1} + (Δ_t x_t) B_tᵀ, y_t = h_t C_t; x, Δ [b, l, E], A [E, N], B, C [b, l, N] → y [b, l, E].
    Chunked: inside a chunk h = e^Λ ⊙ (h₀ + cumsum(e^−Λ ⊙ Δx Bᵀ)), Λ = cumsum(Δ A) from the chunk's start; chunk end
    states by a loop over chunks. (e^−Λ grows to e^{C·max|ΔA|} inside a chunk: fine for Δ·|A| ≲ 5.)"""
    b, l, E = x.shape
    dA = _chunks(dt, C, 1)[..., None] * A  # [b, n, C, E, N]
    drive = _chunks(dt * x, C, 1)[..., None] * _chunks(Bm, C, 1)[:, :, :, None, :]
    n = dA.shape[1]
    lam = dA.cumsum(2)
    cs = ((-lam).exp() * drive).cumsum(2)
    decay_end = lam[:, :, -1].exp()  # [b, n, E, N]
    h_end = decay_end * cs[:, :, -1]
    H = torch.zeros_like(h_end[:, 0])
    starts = []
    for i in range(n):
        starts.append(H)
        H = decay_end[:, i] * H + h_end[:, i]
    h = lam.exp() * (cs + torch.stack(starts, 1)[:, :, None])
    y = (h @ _chunks(Cm, C, 1)[:, :, :, :, None]).squeeze(-1)  # [b, n, C, E]
    return y.reshape(b, n * C, E)[:, :l]


def selective_scan_reference(x, dt, A, Bm, Cm):
    b, l, E = x.shape
    h = x.new_zeros(b, E, A.shape[1])
    ys = []
    for t in range(l):
        h = (dt[:, t, :, None] * A).exp() * h + (dt[:, t] * x[:, t])[..., None] * Bm[:, t, None, :]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1)


class MambaChunked(zoology_port.Mamba):
    """zoology_port.Mamba's parameters (E 256, N 16, conv 4, dt rank ⌈d/16⌉), the selective scan chunked."""

    def __init__(self, d, d_state=16, chunk=16):
        super().__init__(d, d_state=d_state)
        self.chunk = chunk
        self.reset_special()

    def reset_special(self):
        with torch.no_grad():
            self.dt_proj.bias.copy_(_inv_softplus_dt(self.dt_proj.bias.shape))

    def forward(self, u):
        b, l, d = u.shape
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.silu(short_conv(self.conv1d, x))  # [b, l, E]
        dtr, Bm, Cm = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dtr))
        A = -torch.exp(self.A_log)
        y = selective_scan_chunked(x, dt, A, Bm, Cm, self.chunk) + x * self.D
        return self.out_proj(y * F.silu(z))


# ------------------------------------------------------------------------------------------ Mamba-2 (SSD)


def _segsum(x):
    """x [..., T] → [..., T, T]: Σ_{j<s≤i} x_s below the diagonal, −inf above (ssd_minimal's segsum)."""
    T = x.shape[-1]
    x = x[..., None].expand(*x.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), -1), 0)
    s = x.cumsum(-2)
    return s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), 0), float('-inf'))


def ssd_chunked(X, a, Bm, Cm, C=32):
    """h_t = e^{a_t} h_{t−1} + B_t x_tᵀ (per head [N, P]), y_t = h_tᵀ C_t. X [b, l, H, P], a [b, l, H], B, C [b, l, N]
    (shared by the heads) → y [b, l, H, P]. ssd_minimal's chunked form: quadratic inside chunks, chunk states by a
    segsum over chunks (no loop)."""
    b, l, H, P = X.shape
    X = _chunks(X, C, 1).permute(0, 3, 1, 2, 4)  # [b, H, c, s, P]
    a = _chunks(a, C, 1).permute(0, 3, 1, 2)  # [b, H, c, s]
    Bm, Cm = _chunks(Bm, C, 1)[:, None], _chunks(Cm, C, 1)[:, None]  # [b, 1, c, s, N]
    a_cs = a.cumsum(-1)
    L = _segsum(a).exp()  # [b, H, c, s, s]
    y_diag = ((Cm @ Bm.transpose(-1, -2)) * L) @ X
    decay_states = (a_cs[..., -1:] - a_cs).exp()
    states = (X * decay_states[..., None]).transpose(-1, -2) @ Bm  # [b, H, c, P, N]
    states = torch.cat([torch.zeros_like(states[:, :, :1]), states], 2)
    decay_chunk = _segsum(F.pad(a_cs[..., -1], (1, 0))).exp()  # [b, H, c+1, c+1]
    nc = states.shape[2]
    states = (decay_chunk @ states.reshape(b, H, nc, -1)).reshape(states.shape)[:, :, :-1]
    y_off = (Cm @ states.transpose(-1, -2)) * a_cs.exp()[..., None]  # [b, H, c, s, P]
    y = (y_diag + y_off).permute(0, 2, 3, 1, 4).reshape(b, -1, H, P)
    return y[:, :l]


def ssd_reference(X, a, Bm, Cm):
    b, l, H, P = X.shape
    h = X.new_zeros(b, H, Bm.shape[-1], P)
    ys = []
    for t in range(l):
        h = a[:, t, :, None, None].exp() * h + Bm[:, t, None, :, None] * X[:, t, :, None, :]
        ys.append((Cm[:, t, None, None, :] @ h)[:, :, 0])
    return torch.stack(ys, 1)


class Mamba2(nn.Module):
    def __init__(self, d, d_state=128, head_dim=64, expand=2, conv=4, chunk=32):
        super().__init__()
        self.E, self.N, self.P = expand * d, d_state, head_dim
        self.H = self.E // head_dim
        self.chunk = chunk
        self.in_proj = nn.Linear(d, 2 * self.E + 2 * d_state + self.H, bias=False)
        self.conv1d = depthwise_conv(self.E + 2 * d_state, conv)
        self.dt_bias = nn.Parameter(torch.empty(self.H))
        self.A_log = nn.Parameter(torch.empty(self.H))
        self.D = nn.Parameter(torch.ones(self.H))
        self.norm = nn.Parameter(torch.ones(self.E))
        self.out_proj = nn.Linear(self.E, d, bias=False)
        self.reset_special()

    def reset_special(self):
        with torch.no_grad():
            self.dt_bias.copy_(_inv_softplus_dt(self.H))
            self.A_log.copy_(torch.empty(self.H).uniform_(1, 16).log())

    def forward(self, u):
        b, l, d = u.shape
        E, N, H, P = self.E, self.N, self.H, self.P
        z, xBC, dt = torch.split(self.in_proj(u), [E, E + 2 * N, H], -1)
        x, Bm, Cm = torch.split(F.silu(short_conv(self.conv1d, xBC)), [E, N, N], -1)
        dt = F.softplus(dt + self.dt_bias)
        a = dt * -torch.exp(self.A_log)
        xh = x.view(b, l, H, P)
        y = ssd_chunked(xh * dt[..., None], a, Bm, Cm, self.chunk) + xh * self.D[:, None]
        return self.out_proj(rms_norm(y.reshape(b, l, E) * F.silu(z), self.norm))


# ------------------------------------------------------------------------------------------ M2 (Monarch Mixer)


def monarch_multiply(x, w1, w2):
    """m2's blockdiag_butterfly_multiply: y = P₂ BlockDiag(w2) P₁ BlockDiag(w1) x; w1 [k, q, p], w2 [l, s, r]."""
    lead, n = x.shape[:-1], x.shape[-1]
    k, q, p = w1.shape
    l, s, r = w2.shape
    xr = x.reshape(-1, k, p).transpose(0, 1)  # [k, M, p]
    out1 = torch.bmm(xr, w1.transpose(-1, -2))  # [k, M, q]
    out1 = out1.transpose(0, 1).reshape(-1, r, l).transpose(-1, -2).transpose(0, 1)  # [l, M, r]
    out2 = torch.bmm(out1, w2.transpose(-1, -2))  # [l, M, s]
    return out2.permute(1, 2, 0).reshape(*lead, s * l)


def monarch_dense_reference(x, w1, w2):
    """The dense reference (ops/monarch/naive.ts): block-diagonal matrices and the two index permutations."""
    k, q, p = w1.shape
    l, s, r = w2.shape
    h = (torch.block_diag(*w1) @ x.T).T  # [M, k·q]
    h = h.reshape(-1, r, l).transpose(1, 2).reshape(-1, k * q)  # '(r l) -> (l r)'
    y = (torch.block_diag(*w2) @ h.T).T  # [M, l·s]
    return y.reshape(-1, l, s).transpose(1, 2).reshape(-1, l * s)  # '(l s) -> (s l)'


class MonarchLinear(nn.Module):
    def __init__(self, n, m, nblocks=4, std=0.02):
        super().__init__()
        k = nblocks
        s1, s2 = ((k, n // k, n // k), (k, m // k, n // k)) if n < m else ((k, m // k, n // k), (k, m // k, m // k))
        self.w1 = nn.Parameter(torch.randn(s1) / math.sqrt(s1[2]))
        self.w2 = nn.Parameter(torch.randn(s2) * std * math.sqrt(n / s2[2]))
        self.bias = nn.Parameter(torch.zeros(m))

    def forward(self, x):
        return monarch_multiply(x, self.w1, self.w2) + self.bias


class M2Mixer(nn.Module):
    def __init__(self, d, l_max, filter_order=16, sin_freq=10.0, short=3, nblocks=4):
        super().__init__()
        self.d = d
        self.in_linear = MonarchLinear(d, 3 * d, nblocks)
        self.short_filter = depthwise_conv(3 * d, short)
        self.filter_fn = zoology_port.Filter(d, order=filter_order, seq_len=l_max, w=sin_freq)
        self.out_linear = MonarchLinear(d, d, nblocks)

    def forward(self, x):
        T = x.shape[1]
        x1, x2, v = short_conv(self.short_filter, self.in_linear(x)).split(self.d, -1)
        v = v * x1
        h = self.filter_fn.filter(T)[0].transpose(0, 1)  # [d, T]
        y = (fft_causal_conv(v, h) + v * self.filter_fn.bias) * x2
        return self.out_linear(y)


HyenaMixer = zoology_port.Hyena  # already the best eager form: FFT long conv (fftconv_ref)


# ------------------------------------------------------------------------------------------ H3


class H3Mixer(zoology_port.H3):
    """zoology_port.H3 (FFT long convs); its kernels' parameters initialised as recallbench's (zoology_port leaves them
    to be loaded)."""

    def __init__(self, d, l_max, d_state=64, head_dim=1):
        super().__init__(d, d_state=d_state, l_max=l_max, head_dim=head_dim)
        self.reset_special()

    def reset_special(self):
        diag, shift = self.kernel.kernel, self.ssm_k_kernel.kernel
        H, n = diag.inv_A_real.shape
        with torch.no_grad():
            diag.log_dt.uniform_(math.log(1e-3), math.log(1e-1))
            diag.inv_A_real.fill_(math.log(0.5))
            diag.A_imag.copy_((math.pi * torch.arange(n, dtype=torch.float32)).expand(H, n))
            diag.C.normal_(0, math.sqrt(0.5))
            shift.C.uniform_(-1 / math.sqrt(self.N), 1 / math.sqrt(self.N))


def s4d_recurrence_reference(diag, u):
    """The diagonal SSM as a recurrence (bilinear): s_t = dA s_{t−1} + u_t, y_t = 2 Re(W s_t), W = C·dt/(1 − dtA/2)."""
    dt = diag.log_dt.exp()
    A = -diag.inv_A_real.exp() + 1j * diag.A_imag
    dtA = A * dt[:, None]
    dA = (1 + dtA / 2) / (1 - dtA / 2)
    W = torch.view_as_complex(diag.C.float())[0] * torch.view_as_complex(diag.B.float()) / (1 - dtA / 2) * dt[:, None]
    s = torch.zeros(u.shape[0], *dA.shape, dtype=torch.complex64)
    ys = []
    for t in range(u.shape[-1]):
        s = dA * s + u[:, :, t, None]
        ys.append(2 * (W * s).sum(-1).real)
    return torch.stack(ys, -1)


# ------------------------------------------------------------------------------------------ Scatterbrain


class _Ratio(torch.autograd.Function):
    """a / b with its gradient written without b² (architectures/scatterbrain.ts's `ratio`)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        b, y = ctx.saved_tensors
        da = dy / b
        return da, -(da * y).sum(-1, keepdim=True)


def scatterbrain_attention(q, k, v, window, omega, kappa, drop=None, eps=1e-4):
    """Window softmax + Performer on the rest (zoology's SBLocalAttention as architectures/scatterbrain.ts):
    y_i = local_i + (N_i − c·N^W_i) / max(D_i − c·D^W_i, 1e-24), as one masked quadratic form for the low-rank part."""
    B, H, T, dh = q.shape
    c = dh ** -0.5
    local = sliding_window_attention(q, k, v, window, drop)
    pq, pk = sb_query_features(q, omega, eps), sb_key_features(k, omega, kappa)
    i = torch.arange(T, device=q.device)
    lag = i[:, None] - i[None, :]  # i − j
    weight = torch.full((T, T), 1.0 - c, dtype=q.dtype, device=q.device).masked_fill(lag > window, 1.0).masked_fill(lag < 0, 0.0)
    A = (pq @ pk.transpose(-1, -2)) * weight
    return local + _Ratio.apply(A @ v, A.sum(-1, keepdim=True).clamp_min(1e-24))


def _sb_u(x, omega):
    xs = x * x.shape[-1] ** -0.25
    dash = xs @ omega.t()
    return torch.cat([dash, -dash], -1), 0.5 * xs.pow(2).sum(-1, keepdim=True)


def sb_query_features(x, omega, eps=1e-4):
    u, _ = _sb_u(x, omega)
    return (u - u.amax(-1, keepdim=True)).exp() + eps / math.sqrt(u.shape[-1])


def sb_key_features(x, omega, kappa):
    u, half = _sb_u(x, omega)
    return (u - half - 0.5 * math.log(u.shape[-1]) - kappa).exp()


def sb_projection(features, dh, generator=None):
    """gaussian_orthogonal_random_matrix(f/2, d_h, scaling 0): orthonormal rows times χ_{d_h} norms; κ the key shift."""
    rows = features // 2
    blocks = []
    while sum(b.shape[0] for b in blocks) < rows:
        qm, _ = torch.linalg.qr(torch.randn(dh, dh, generator=generator))
        blocks.append(qm.t())
    omega = torch.cat(blocks)[:rows] * torch.randn(rows, dh, generator=generator).norm(dim=1, keepdim=True)
    kappa = max(0.0, float((omega.pow(2).sum(1) / 2).max()) - 40.0)
    return omega, kappa


def scatterbrain_reference(q, k, v, window, omega, kappa, eps=1e-4):
    """Token by token: the window softmax from the window's keys, the Performer sums over the tokens that left it
    (S, z) plus (1 − c)× the window's own feature scores (the step view)."""
    B, H, T, dh = q.shape
    c = dh ** -0.5
    pq, pk = sb_query_features(q, omega, eps), sb_key_features(k, omega, kappa)
    S = torch.zeros(B, H, pk.shape[-1], dh, dtype=q.dtype)
    z = torch.zeros(B, H, pk.shape[-1], dtype=q.dtype)
    out = []
    for t in range(T):
        j0 = max(0, t - window)
        if j0 > 0:  # token j0 − 1 has just left the window
            S = S + pk[:, :, j0 - 1, :, None] * v[:, :, j0 - 1, None, :]
            z = z + pk[:, :, j0 - 1]
        s = (q[:, :, t : t + 1] @ k[:, :, j0 : t + 1].transpose(-1, -2)) * c
        local = (torch.softmax(s, -1) @ v[:, :, j0 : t + 1])[:, :, 0]
        w_in = (pq[:, :, t : t + 1] @ pk[:, :, j0 : t + 1].transpose(-1, -2))[:, :, 0]  # [B, H, window]
        GN = (pq[:, :, t, None, :] @ S)[:, :, 0] + (1 - c) * (w_in[..., None] * v[:, :, j0 : t + 1]).sum(2)
        GD = (pq[:, :, t] * z).sum(-1, keepdim=True) + (1 - c) * w_in.sum(-1, keepdim=True)
        out.append(local + GN / GD.clamp_min(1e-24))
    return torch.stack(out, 2)


class Scatterbrain(nn.Module):
    def __init__(self, d, window=64, features=24, heads=1, dropout=0.1):
        super().__init__()
        self.heads, self.window = heads, window
        self.Wqkv = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)
        omega, self.kappa = sb_projection(features, d // heads)
        self.register_buffer('omega', omega, persistent=False)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.Wqkv(x).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = scatterbrain_attention(q, k, v, self.window, self.omega, self.kappa, self.dropout)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, d))


# ------------------------------------------------------------------------------------------ bounded cache (H2O)


@torch.compiler.disable
def h2o_visible(scores, size, recent):
    """H2O's causal selection (ops/boundedCache/policy.ts h2oVisible) for every row at once: scores [R, T, T] →
    visible [R, T, T] bool. Token by token: softmax over cache ∪ {t}, accumulate, insert t, evict the smallest
    accumulated score older than the `recent` newest (ties: the oldest). float64, no gradient."""
    R, T, _ = scores.shape
    dev = scores.device
    scores = scores.detach().double()
    vis = torch.zeros(R, T, T, dtype=torch.bool, device=dev)
    pos = torch.zeros(R, size, dtype=torch.long, device=dev)
    acc = torch.zeros(R, size, dtype=torch.float64, device=dev)
    rows = torch.arange(R, device=dev)
    inf = torch.full((), float('inf'), dtype=torch.float64, device=dev)  # (no host-to-device copies: graph-capturable)
    big = torch.full((), T + 1, dtype=torch.long, device=dev)
    for t in range(T):
        n = min(t, size)
        row = scores[:, t]
        own_s = row[:, t]
        if n:
            p = pos[:, :n]
            sc = row.gather(1, p)
            mx = torch.maximum(sc.amax(1), own_s)
            w = (sc - mx[:, None]).exp()
            own = (own_s - mx).exp()
            total = w.sum(1) + own
            acc[:, :n] += w / total[:, None]
            vis[:, t].scatter_(1, p, True)
            own_w = own / total
        else:
            own_w = torch.ones_like(own_s)
        vis[:, t, t].fill_(True)  # (fill_ on views, never a Python value through indexing: no host copies)
        if t < size:
            pos[:, t].fill_(t)
            acc[:, t] = own_w
        else:
            cand = pos <= t - recent
            key = torch.where(cand, acc, inf)
            tie = cand & (key == key.amin(1, keepdim=True))
            evict = torch.where(tie, pos, big).argmin(1)
            pos[rows, evict] = torch.full_like(evict, t)
            acc[rows, evict] = own_w
    return vis


_H2O_GRAPHS = {}


@torch.compiler.disable
def h2o_visible_graphed(scores, size, recent):
    """h2o_visible on CUDA replayed from a CUDA graph captured once per shape (the loop's ~6,000 small kernels
    launched without the host: plain PyTorch, no custom kernel); eager elsewhere or if the capture fails."""
    if not scores.is_cuda:
        return h2o_visible(scores, size, recent)
    key = (tuple(scores.shape), size, recent, scores.device)
    entry = _H2O_GRAPHS.get(key)
    if entry is None:
        try:
            static_in = scores.detach().double().clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                h2o_visible(static_in, size, recent)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = h2o_visible(static_in, size, recent)
            entry = (graph, static_in, static_out)
        except Exception as e:  # noqa: BLE001
            print(f'(h2o: CUDA graph capture failed, eager loop: {type(e).__name__}: {e})', flush=True)
            entry = False
        _H2O_GRAPHS[key] = entry
    if entry is False:
        return h2o_visible(scores, size, recent)
    graph, static_in, static_out = entry
    static_in.copy_(scores.detach())
    graph.replay()
    return static_out.clone()


def h2o_visible_reference(scores, size, recent):
    """policy.ts's h2oVisible, line by line, in Python floats, for one (example, head): scores [T, T]."""
    T = scores.shape[0]
    s = scores.tolist()
    out = [[False] * T for _ in range(T)]
    pos, acc = [], []
    for t in range(T):
        mx = max([s[t][t]] + [s[t][p] for p in pos])
        w = [math.exp(s[t][p] - mx) for p in pos]
        total = math.exp(s[t][t] - mx) + sum(w)
        for i, p in enumerate(pos):
            acc[i] += w[i] / total
            out[t][p] = True
        out[t][t] = True
        own = math.exp(s[t][t] - mx) / total
        if len(pos) < size:
            pos.append(t)
            acc.append(own)
            continue
        ev = -1
        for i in range(len(pos)):
            if pos[i] > t - recent:
                continue
            if ev < 0 or acc[i] < acc[ev] or (acc[i] == acc[ev] and pos[i] < pos[ev]):
                ev = i
        pos[ev], acc[ev] = t, own
    return torch.tensor(out)


class BoundedCacheAttention(nn.Module):
    def __init__(self, d, cache=64, recent=None, heads=1, dropout=0.1):
        super().__init__()
        self.heads, self.cache = heads, cache
        self.recent = recent if recent is not None else -(-cache // 2)
        self.Wqkv = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, d = x.shape
        H = self.heads
        q, k, v = self.Wqkv(x).view(B, T, 3, H, d // H).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * (d // H) ** -0.5
        visible = h2o_visible_graphed(scores.reshape(B * H, T, T), self.cache, self.recent).view(B, H, T, T)
        a = torch.softmax(scores.masked_fill(~visible, -1e9), -1)
        return self.out_proj((self.dropout(a) @ v).transpose(1, 2).reshape(B, T, d))


# ------------------------------------------------------------------------------------------ the models


MIXERS = ['attention', 'based', 'baseconv', 'linear-attention', 'sliding-window', 'hyena', 'h3', 'jrt-rnn', 'gla',
          'deltanet', 'gated-deltanet', 'rwkv', 'rwkv7', 'mamba', 'mamba2', 'm2', 'scatterbrain', 'bounded-cache']

# Where a torch form is not recallbench's function exactly (beyond initial values, which only the step's numbers see).
MIXER_NOTES = {
    'hyena': "zoology_port.Hyena: its PosEmb table z is a trained parameter (recallbench 'prenorm': a constant)",
    'h3': "zoology_port.H3 keeps the shift SSM's B and the S4D B as parameters (recallbench folds them into C); "
          'torch.compile fails on its complex64 kernel (inductor)',
    'm2': "zoology_port.Filter: PosEmb table trained (recallbench: a constant); Monarch init by recallbench's rule",
    'scatterbrain': 'the Performer rows ω are drawn from torch\'s generator (same law as recallbench, other numbers)',
    'mamba': 'in-chunk e^−Λ: exact while Δ·|A|·chunk stays below ~80 (fp32 range); chunk 16',
    'gla': 'in-chunk k·e^−b: exact while the in-chunk gate sum stays above ~−80 (fp32 range); chunk 16',
    'bounded-cache': 'H2O selection accumulated in float64 on the device (recallbench: JS doubles on the host)',
    'rwkv7': 'chunk 16 (recallbench\'s tfjs form: chunk 8; on webgpu its fused kernel); its LoRA down-projections '
             'keep the LM\'s N(0, 0.02) as recallbench\'s',
}


def build_layers(mixer, d, seq_len, dropout, n_layers, prefix):
    """The 2 layers bench/step.ts builds for `mixer` (modelConfig), and whether it has learned positions."""
    one = {
        'baseconv': lambda i: BaseConv(d, 3),
        'linear-attention': lambda i: TaylorLinearAttention(d, 16, 1),
        'sliding-window': lambda i: SlidingWindowAttention(d, 64, 1, dropout=0.1),
        'hyena': lambda i: HyenaMixer(d, l_max=seq_len),
        'h3': lambda i: H3Mixer(d, l_max=seq_len),
        'jrt-rnn': lambda i: JRTPrefixLinearAttention(d, prefix),
        'gla': lambda i: GLA(d),
        'deltanet': lambda i: DeltaNet(d),
        'gated-deltanet': lambda i: GatedDeltaNet(d),
        'rwkv': lambda i: RWKVTimeMix(d, i, n_layers),
        'rwkv7': lambda i: RWKV7(d, i, n_layers),
        'mamba': lambda i: MambaChunked(d),
        'mamba2': lambda i: Mamba2(d),
        'm2': lambda i: M2Mixer(d, l_max=seq_len),
        'scatterbrain': lambda i: Scatterbrain(d),
        'bounded-cache': lambda i: BoundedCacheAttention(d),
    }
    if mixer == 'attention':
        return [SelfAttention(d, 1, dropout), SelfAttention(d, 1, dropout)], True
    if mixer == 'based':
        return [BaseConv(d, 3), TaylorLinearAttention(d, 16, 1)], False
    if mixer not in one:
        raise ValueError(f'unknown mixer {mixer} (known: {", ".join(MIXERS)})')
    return [one[mixer](i) for i in range(n_layers)], False


class LM(nn.Module):
    def __init__(self, mixer, vocab, d, seq_len, dropout, prefix=0, n_layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.positions = None
        layers, positions = build_layers(mixer, d, seq_len, dropout, n_layers, prefix)
        if positions:
            self.positions = nn.Parameter(torch.randn(seq_len, d) * 0.02)
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in layers])
        self.mixers = nn.ModuleList(layers)
        self.final_norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in self.modules():
            if hasattr(m, 'reset_special'):
                m.reset_special()  # what recallbench initialises by its own rule (Δ biases, decays, SSM kernels)

    def forward(self, tokens):
        x = self.embedding(tokens)
        if self.positions is not None:
            x = x + self.positions[: tokens.shape[1]]
        x = self.drop(x)
        for norm, mixer in zip(self.norms, self.mixers):
            x = x + mixer(norm(x))
        return self.final_norm(x)


def step_fn(model, forward, opt, head):
    def step(tokens, labels, rows, row_labels):
        hidden = forward(tokens)
        E = model.embedding.weight
        if head == 'supervised':
            h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)
            loss = F.cross_entropy(h @ E.t(), row_labels)
        else:
            logits = hidden @ E.t()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return step


def bench(args, mixer, batch, head, device, variant='eager'):
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    model = LM(mixer, args.vocab, args.d_model, args.seq_len, args.dropout, prefix=2 * args.kv).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    data = []
    for _ in range(4):
        tok, lab = mqar_batch(rng, batch, args.seq_len, args.kv, args.vocab)
        flat = lab.reshape(-1)
        rows = np.nonzero(flat != -100)[0]
        data.append(tuple(torch.from_numpy(a).to(device) for a in (tok, lab, rows, flat[rows])))
    forward = torch.compile(model) if variant == 'compile' else model
    step = step_fn(model, forward, opt, head)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    t_start = time.perf_counter()
    for i in range(args.warmup):
        step(*data[i % 4])
    sync()
    warm_s = time.perf_counter() - t_start
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = step(*data[i % 4])
    sync()
    ms = (time.perf_counter() - t0) * 1000 / args.steps
    row = {'mixer': mixer, 'batch': batch, 'head': head, 'variant': variant, 'msPerStep': ms,
           'tokensPerSec': batch * args.seq_len / (ms / 1000), 'loss': loss.item(), 'warmupSec': warm_s}
    if device == 'cuda':
        row['peakGiB'] = torch.cuda.max_memory_allocated() / 2 ** 30
    return row


# ------------------------------------------------------------------------------------------ --check


def run_checks(dtypes=(torch.float64, torch.float32)):
    """Each fast form against its per-timestep reference at a tiny size on CPU (T not a multiple of the chunk:
    padded tails are exercised). Prints max |fast − ref| / max |ref| for the outputs and for the gradients of
    Σ out ⊙ r with respect to every input; returns the worst."""
    worst = 0.0
    for dtype in dtypes:
        print(f'--check, {str(dtype).replace("torch.", "")} (relative: max abs error / max abs reference)')
        for name, case in CHECKS:
            g = torch.Generator().manual_seed(1)
            try:
                ins, fast, ref = case(dtype, g)
                errs = _compare(ins, fast, ref, g)
                worst = max(worst, *errs.values())
                print(f'  {name:24s} ' + '  '.join(f'{k} {v:.2e}' for k, v in errs.items()), flush=True)
            except Exception as e:  # noqa: BLE001 — report and go on
                worst = float('inf')
                print(f'  {name:24s} FAILED: {type(e).__name__}: {e}', flush=True)
    return worst


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _compare(ins, fast, ref, g):
    ins = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in ins]
    yf = fast(*ins)
    yr = ref(*ins)
    errs = {'out': _rel(yf.detach(), yr.detach())}
    grad_ins = [t for t in ins if t.requires_grad]
    if grad_ins and yf.requires_grad:
        r = torch.randn(yr.shape, generator=g, dtype=yr.dtype)
        gf = torch.autograd.grad((yf * r).sum(), grad_ins, allow_unused=True)
        gr = torch.autograd.grad((yr * r).sum(), grad_ins, allow_unused=True)
        errs['grad'] = max(_rel(a, b) for a, b in zip(gf, gr) if a is not None and b is not None)
    return errs


def _randn(g, dtype, *shape, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype) * scale


def _check_sliding(dtype, g):
    q, k, v = (_randn(g, dtype, 2, 2, 37, 8) for _ in range(3))
    return [q, k, v], lambda q, k, v: sliding_window_attention(q, k, v, 6), lambda q, k, v: sliding_window_reference(q, k, v, 6)


def _check_taylor(dtype, g):
    """TaylorLinearAttention's quadratic form (linear-attention, based) vs the recurrent view with explicit φ."""
    torch.manual_seed(3)
    layer = TaylorLinearAttention(16, 4, 1).to(dtype)
    x = _randn(g, dtype, 2, 37, 16)

    def ref(x):
        B, T, d = x.shape
        q, k = layer.proj_q(x).view(B, T, 1, 4).transpose(1, 2), layer.proj_k(x).view(B, T, 1, 4).transpose(1, 2)
        y = jrt_reference(q, k, layer.proj_v(x).view(B, T, 1, d).transpose(1, 2), None, None, 4, layer.eps)
        return layer.out_proj(y.transpose(1, 2).reshape(B, T, d))
    return [x], layer, ref


def _check_jrt(dtype, g):
    q, k = _randn(g, dtype, 2, 2, 37, 4), _randn(g, dtype, 2, 2, 37, 4)
    v = _randn(g, dtype, 2, 2, 37, 8)
    ke, ve = _randn(g, dtype, 2, 2, 9, 4), _randn(g, dtype, 2, 2, 9, 8)
    return [q, k, v, ke, ve], lambda *a: jrt_attention(*a, 4, 1e-12), lambda *a: jrt_reference(*a, 4, 1e-12)


def _check_gla(dtype, g):
    q, k = _randn(g, dtype, 2, 2, 37, 4, scale=0.5), _randn(g, dtype, 2, 2, 37, 4)
    v = _randn(g, dtype, 2, 2, 37, 6)
    gate = F.logsigmoid(_randn(g, dtype, 2, 2, 37, 4) * 2) / 4  # sharper than the model's /16
    return [q, k, v, gate], lambda *a: gla_chunked(*a, C=8), gla_reference


def _check_delta(dtype, g):
    q, k = l2_normalize(_randn(g, dtype, 2, 2, 37, 4)), l2_normalize(_randn(g, dtype, 2, 2, 37, 4))
    v, beta = _randn(g, dtype, 2, 2, 37, 6), torch.sigmoid(_randn(g, dtype, 2, 2, 37))
    return [q, k, v, beta], lambda *a: delta_rule_chunked(*a, C=8), delta_rule_reference


def _check_gated_delta(dtype, g):
    q, k = l2_normalize(_randn(g, dtype, 2, 2, 37, 4)), l2_normalize(_randn(g, dtype, 2, 2, 37, 4))
    v, beta = _randn(g, dtype, 2, 2, 37, 6), torch.sigmoid(_randn(g, dtype, 2, 2, 37))
    gate = -F.softplus(_randn(g, dtype, 2, 2, 37))
    return [q, k, v, beta, gate], lambda *a: gated_delta_rule_chunked(*a, C=8), gated_delta_rule_reference


def _check_generalized_delta(dtype, g):
    r, k = _randn(g, dtype, 2, 2, 37, 4), _randn(g, dtype, 2, 2, 37, 4)
    v = _randn(g, dtype, 2, 2, 37, 6)
    w = -F.softplus(_randn(g, dtype, 2, 2, 37, 4))  # decays e^w in (0, 1), some strong
    kappa = l2_normalize(_randn(g, dtype, 2, 2, 37, 4))
    a, b = -kappa, kappa * torch.sigmoid(_randn(g, dtype, 2, 2, 37, 4))  # RWKV-7's removal: a = −κ̂, b = κ̂ ⊙ α
    return [r, w, k, v, a, b], lambda *x: generalized_delta_rule_chunked(*x, C=8), generalized_delta_rule_reference


def _check_wkv(dtype, g):
    D = 8
    w = -torch.exp(_randn(g, dtype, D))  # decays e^{N(0,1)}
    u = _randn(g, dtype, D)
    k, v = _randn(g, dtype, 2, 37, D, scale=3.0), _randn(g, dtype, 2, 37, D)  # large k: the shifts matter
    return [w, u, k, v], lambda *a: wkv_chunked(*a, C=8), lambda w, u, k, v: zoology_port.wkv_forward(w, u, k, v)


def _check_scan(dtype, g):
    x = _randn(g, dtype, 2, 37, 6)
    dt = F.softplus(_randn(g, dtype, 2, 37, 6) - 1)
    A = -torch.arange(1, 5, dtype=dtype).repeat(6, 1)  # [E, N], S4D-real
    Bm, Cm = _randn(g, dtype, 2, 37, 4), _randn(g, dtype, 2, 37, 4)
    return [x, dt, A, Bm, Cm], lambda *a: selective_scan_chunked(*a, C=8), selective_scan_reference


def _check_scan_vs_zoology(dtype, g):
    """The chunked scan inside MambaChunked vs zoology_port's selective_scan_ref (mamba_ssm's reference loop)."""
    x, dt, A, Bm, Cm = _check_scan(dtype, g)[0]
    z, D, bias = _randn(g, dtype, 2, 6, 37), torch.ones(6, dtype=dtype), torch.zeros(6, dtype=dtype)

    def fast(x, dt, A, Bm, Cm):
        return ((selective_scan_chunked(x, dt, A, Bm, Cm, C=8) + x * D) * F.silu(z.transpose(1, 2))).transpose(1, 2)

    def ref(x, dt, A, Bm, Cm):
        raw = torch.log(torch.expm1(dt))  # selective_scan_ref applies softplus itself
        return zoology_port.selective_scan_ref(x.transpose(1, 2), raw.transpose(1, 2), A, Bm.transpose(1, 2), Cm.transpose(1, 2), D, z, bias)
    return [x, dt, A, Bm, Cm], fast, ref


def _check_ssd(dtype, g):
    X = _randn(g, dtype, 2, 37, 3, 4)
    a = -F.softplus(_randn(g, dtype, 2, 37, 3))
    Bm, Cm = _randn(g, dtype, 2, 37, 5), _randn(g, dtype, 2, 37, 5)
    return [X, a, Bm, Cm], lambda *t: ssd_chunked(*t, C=8), ssd_reference


def _check_fftconv(dtype, g):
    u, k = _randn(g, dtype, 2, 37, 6), _randn(g, dtype, 6, 37)

    def direct(u, k):
        T = u.shape[1]
        return torch.stack([(u[:, : t + 1].flip(1) * k[:, : t + 1].t()).sum(1) for t in range(T)], 1)
    return [u, k], fft_causal_conv, direct


def _check_hyena_fftconv(dtype, g):
    """zoology_port's fftconv_ref (Hyena's long conv) vs the direct causal sum, with its D skip."""
    u, k, D = _randn(g, dtype, 2, 6, 37), _randn(g, dtype, 6, 37), _randn(g, dtype, 6)
    fast = lambda u, k, D: zoology_port.fftconv_ref(u, k, D, None, gelu=False)
    direct = lambda u, k, D: _check_fftconv(dtype, g)[2](u.transpose(1, 2), k).transpose(1, 2) + u * D[:, None]
    return [u, k, D], fast, direct


def _check_h3_kernel(dtype, g):
    """H3's S4D kernel (zoology_port SSKernelDiag, Vandermonde) through the FFT conv vs the diagonal SSM's recurrence."""
    torch.manual_seed(4)
    m = H3Mixer(6, l_max=37, d_state=8)
    diag = m.kernel.kernel
    u = torch.randn(2, 37, 6, generator=g)
    fast = lambda u: fft_causal_conv(u, m.kernel(L=37)[0])
    ref = lambda u: s4d_recurrence_reference(diag, u.transpose(1, 2)).transpose(1, 2)
    return [u.to(torch.float32)], fast, ref  # complex64 recurrence: float32 in both rows


def _check_monarch(dtype, g):
    x = _randn(g, dtype, 5, 16)
    w1, w2 = _randn(g, dtype, 4, 12, 4), _randn(g, dtype, 4, 12, 12)  # 16 → 48 as MonarchLinear(16, 48)
    return [x, w1, w2], monarch_multiply, monarch_dense_reference


def _check_scatterbrain(dtype, g):
    omega, kappa = sb_projection(8, 8, g)
    omega = omega.to(dtype)
    q, k, v = (_randn(g, dtype, 2, 1, 37, 8) for _ in range(3))
    return [q, k, v], lambda q, k, v: scatterbrain_attention(q, k, v, 6, omega, kappa), lambda q, k, v: scatterbrain_reference(q, k, v, 6, omega, kappa)


def _check_h2o(dtype, g):
    """H2O's selection (the device loop) vs policy.ts's scalar loop: the masks must agree exactly (out = mismatches)."""
    scores = _randn(g, dtype, 3, 41, 41, scale=2.0)

    def fast(s):
        return h2o_visible(s, 8, 4).to(s.dtype)

    def ref(s):
        return torch.stack([h2o_visible_reference(s[r], 8, 4) for r in range(s.shape[0])]).to(s.dtype)
    return [scores], fast, ref


CHECKS = [
    ('sliding-window', _check_sliding), ('linear-attention/based', _check_taylor), ('jrt-rnn', _check_jrt),
    ('gla', _check_gla), ('deltanet', _check_delta), ('gated-deltanet', _check_gated_delta), ('rwkv (wkv)', _check_wkv),
    ('rwkv7 (generalized delta)', _check_generalized_delta),
    ('mamba (scan)', _check_scan), ('mamba (vs zoology ref)', _check_scan_vs_zoology), ('mamba2 (ssd)', _check_ssd),
    ('fft causal conv (m2)', _check_fftconv), ('hyena fftconv_ref', _check_hyena_fftconv), ('h3 s4d kernel', _check_h3_kernel),
    ('m2 monarch', _check_monarch), ('scatterbrain', _check_scatterbrain), ('bounded-cache (h2o)', _check_h2o),
]


# ------------------------------------------------------------------------------------------ main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mixers', default='all', help=f'comma list or "all" ({",".join(MIXERS)})')
    p.add_argument('--batches', default='64,256')
    p.add_argument('--heads', default='supervised,full')
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--seq-len', type=int, default=256)
    p.add_argument('--d-model', type=int, default=128)
    p.add_argument('--vocab', type=int, default=8192)
    p.add_argument('--kv', type=int, default=16)
    p.add_argument('--dropout', type=float, default=0.1)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--compile', action='store_true', help='also time each model under torch.compile (variant compile)')
    p.add_argument('--compile-only', action='store_true', help='only the torch.compile rows')
    p.add_argument('--compile-heads', default='supervised', help="heads timed under torch.compile (each (batch, head) is a "
                   "compile of ~15 s on an H200)")
    p.add_argument('--check', action='store_true', help='fast forms vs per-timestep references (CPU), then exit')
    p.add_argument('--notes', action='store_true', help='print where a torch form differs from recallbench, then exit')
    p.add_argument('--out')
    args = p.parse_args()
    if args.notes:
        for m in MIXERS:
            print(f'{m:16s} {MIXER_NOTES.get(m, "recallbench function")}')
        return
    if args.check:
        torch.set_num_threads(1)
        worst = run_checks()
        print(f'worst relative error {worst:.2e}: {"OK" if worst <= 1e-4 else "FAIL"} (bar 1e-4)')
        raise SystemExit(0 if worst <= 1e-4 else 1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    mixers = MIXERS if args.mixers == 'all' else [m.strip() for m in args.mixers.split(',') if m.strip()]
    variants = ['compile'] if args.compile_only else ['eager', 'compile'] if args.compile else ['eager']
    name = torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'
    print(f'PyTorch {torch.__version__} on {name}; d {args.d_model}, L {args.seq_len}, V {args.vocab}, '
          f'MQAR K {args.kv}, 2 layers, AdamW, fp32, dropout {args.dropout}; {args.warmup} warm-up + {args.steps} timed '
          f'steps; variants {",".join(variants)}', flush=True)
    out = {'torch': torch.__version__, 'device': name, 'dropout': args.dropout, 'results': [], 'errors': []}

    def save():
        if args.out:
            with open(args.out + '.tmp', 'w') as fh:
                json.dump(out, fh, indent=1)
            os.replace(args.out + '.tmp', args.out)

    for mixer in mixers:
        for variant in variants:
            for batch in map(int, args.batches.split(',')):
                for head in (args.compile_heads if variant == 'compile' else args.heads).split(','):
                    try:
                        r = bench(args, mixer, batch, head, args.device, variant)
                    except Exception as e:  # noqa: BLE001 — one mixer's failure (OOM, compile) never ends the run
                        msg = f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300]
                        out['errors'].append({'mixer': mixer, 'batch': batch, 'head': head, 'variant': variant, 'error': msg})
                        print(f'torch {mixer:16s} B{batch:<4d} head {head:10s} {variant:7s} FAILED {msg}', flush=True)
                        save()
                        if args.device == 'cuda':
                            torch.cuda.empty_cache()
                        torch._dynamo.reset() if variant == 'compile' else None
                        continue
                    out['results'].append(r)
                    print(f"torch {mixer:16s} B{batch:<4d} head {head:10s} {variant:7s} {r['msPerStep']:8.2f} ms/step "
                          f"{r['tokensPerSec'] / 1000:8.0f}k tok/s  loss {r['loss']:.3f}  (warm-up {r['warmupSec']:.1f} s)", flush=True)
                    save()
                    if args.device == 'cuda':
                        torch.cuda.empty_cache()
                        torch.cuda.reset_peak_memory_stats()
            if variant == 'compile':
                torch._dynamo.reset()


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""PyTorch eager comparator for bench/step.ts: the same models, shapes, optimizer and MQAR batch shape.

  python3 bench/torch_step.py [--mixers attention,based] [--batches 64,256] [--steps 30] [--warmup 5]
        [--seq-len 256] [--d-model 128] [--vocab 8192] [--kv 16] [--dropout 0.1] [--device cuda|cpu]
        [--heads supervised,full] [--out torch.json]

Models (zoology's code, fp32, no TF32, eager — no torch.compile, no fused SDPA):
  x = dropout(E[tokens] (+ P[positions])); for each of 2 layers: x += mixer(LN(x)); h = LN(x); tied head.
  attention  [MHA, MHA], 1 head, attention dropout 0.1, learned positions (zoology-fig2): zoology's
             SelfAttention (explicit softmax of q kᵀ/√d_h plus a causal mask).
  based      [BaseConv (short causal depthwise conv k3, y = proj(u) * conv(u) + u),
              Taylor linear attention f 16, 1 head], no positions: φ(x) = [1, x/f^¼, upper-triangle of x xᵀ/(√2·√f)
              with the off-diagonal ×√2] (F = 153, as recallbench), causal quadratic form
              y = (A ⊙ tril) v / (rowsum + eps), A = φ(q) φ(k)ᵀ.
Loss: softmax cross-entropy. head 'supervised' = only the K supervised positions of each example go through the
tied head (what recallbench's training step does); head 'full' = logits at every position and ignore_index
-100 (what zoology does). AdamW(lr 1e-3, weight decay 0.1), PyTorch's default (foreach) implementation.
Timing: warm-up steps, then `steps` steps between two torch.cuda.synchronize() calls; ms/step = elapsed/steps.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


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


class LM(nn.Module):
    def __init__(self, mixer, vocab, d, seq_len, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.positions = None
        if mixer == 'attention':
            self.positions = nn.Parameter(torch.randn(seq_len, d) * 0.02)
            layers = [SelfAttention(d, 1, dropout), SelfAttention(d, 1, dropout)]
        elif mixer == 'based':
            layers = [BaseConv(d, 3), TaylorLinearAttention(d, 16, 1)]
        else:
            raise ValueError(mixer)
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in layers])
        self.mixers = nn.ModuleList(layers)
        self.final_norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, tokens):
        x = self.embedding(tokens)
        if self.positions is not None:
            x = x + self.positions[: tokens.shape[1]]
        x = self.drop(x)
        for norm, mixer in zip(self.norms, self.mixers):
            x = x + mixer(norm(x))
        return self.final_norm(x)


def step_fn(model, opt, head):
    def step(tokens, labels, rows, row_labels):
        hidden = model(tokens)
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


def bench(args, mixer, batch, head, device):
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    model = LM(mixer, args.vocab, args.d_model, args.seq_len, args.dropout).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    data = []
    for _ in range(4):
        tok, lab = mqar_batch(rng, batch, args.seq_len, args.kv, args.vocab)
        flat = lab.reshape(-1)
        rows = np.nonzero(flat != -100)[0]
        data.append(tuple(torch.from_numpy(a).to(device) for a in (tok, lab, rows, flat[rows])))
    step = step_fn(model, opt, head)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    for i in range(args.warmup):
        step(*data[i % 4])
    sync()
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = step(*data[i % 4])
    sync()
    ms = (time.perf_counter() - t0) * 1000 / args.steps
    return {'mixer': mixer, 'batch': batch, 'head': head, 'msPerStep': ms,
            'tokensPerSec': batch * args.seq_len / (ms / 1000), 'loss': float(loss)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mixers', default='attention,based')
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
    p.add_argument('--out')
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'
    print(f'PyTorch {torch.__version__} eager on {name}; d {args.d_model}, L {args.seq_len}, V {args.vocab}, '
          f'MQAR K {args.kv}, 2 layers, AdamW, fp32; {args.warmup} warm-up + {args.steps} timed steps', flush=True)
    results = []
    for mixer in args.mixers.split(','):
        for batch in map(int, args.batches.split(',')):
            for head in args.heads.split(','):
                r = bench(args, mixer, batch, head, args.device)
                results.append(r)
                print(f"torch {mixer:9s} B{batch:<4d} head {head:10s} {r['msPerStep']:8.2f} ms/step "
                      f"{r['tokensPerSec'] / 1000:8.0f}k tok/s  loss {r['loss']:.3f}", flush=True)
    if args.out:
        with open(args.out, 'w') as fh:
            json.dump({'torch': torch.__version__, 'device': name, 'results': results}, fh, indent=1)


if __name__ == '__main__':
    main()

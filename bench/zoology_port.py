"""A written-down port of zoology's model (HazyResearch/zoology at dbcb60d) in plain PyTorch: the yardstick of
bench/zoology_equiv.py (issue 17). Each class follows the file it names, line by line where it matters, with
einops/opt_einsum replaced by reshapes/einsum and the CUDA kernels by their reference formulas:

  zoology/model.py                 TokenEmbeddings, TransformerBlock, LMBackbone, LanguageModel (_init_weights is
                                   not ported: the weights are loaded from recallbench)
  zoology/mixers/attention.py      MHA, SelfAttention
  zoology/mixers/slide_attn.py     SlidingAttn, SlidingSelfAttention
  zoology/mixers/convolution.py    fft_conv, ShortConvolution, PositionalEmbedding, ImplicitLongConvolution
  zoology/mixers/base_conv.py      BaseConv
  zoology/mixers/hybrid.py         Hybrid (layer i builds configs[i % len(configs)])
  zoology/mixers/based.py          Based (train_view 'quadratic' and 'linear'), feature_maps/taylor.py TaylorExp
  zoology/mixers/hyena.py          Hyena, Filter, Sin, PositionalEmbedding, ExponentialModulation, fftconv_ref
  zoology/mixers/h3/h3.py          H3 (use_fast_fftconv False), ss_kernel_diag.py SSKernelDiag (bilinear,
                                   log_vandermonde_naive), ss_kernel_shift.py SSKernelShift
  zoology/mixers/mamba.py          Mamba (the selective scan of mamba_ssm's selective_scan_ref, causal_conv1d as a
                                   padded Conv1d + SiLU), MambaBlock (fused add + RMSNorm = mamba_ssm rms_norm_fn)
  zoology/mixers/rwkv.py           RWKVTimeMixer, with the WKV CUDA kernel's forward recurrence (rwkv/v4/wkv_cuda.cu)
                                   written in torch ops (autograd gives its gradient) and in fp32 — zoology runs it
                                   with RWKV_FLOAT_MODE=bf16, which rounds its output to bfloat16

Random initialisations are kept only where the loaded weights do not cover them (torch-only parameters such as
H3's B, which recallbench folds into C: they are set to the value that makes the two functions equal).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------- model.py


class TokenEmbeddings(nn.Module):
    def __init__(self, embed_dim, vocab_size, max_position_embeddings):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embed_dim)
        self.max_position_embeddings = max_position_embeddings
        if self.max_position_embeddings > 0:
            self.position_embeddings = nn.Embedding(max_position_embeddings, embed_dim)

    def forward(self, input_ids):
        batch_size, seqlen = input_ids.shape
        embeddings = self.word_embeddings(input_ids)
        if self.max_position_embeddings > 0:
            position_ids = torch.arange(seqlen, dtype=torch.long, device=input_ids.device)
            embeddings = embeddings + self.position_embeddings(position_ids)
        return embeddings


class MLP(nn.Module):
    """zoology/mixers/mlp.py MLP: fc1 → F.gelu (exact) → fc2."""

    def __init__(self, d_model, hidden_mult=4):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_model * hidden_mult)
        self.fc2 = nn.Linear(d_model * hidden_mult, d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, sequence_mixer, state_mixer, d_model, embed_dropout, resid_dropout, layer_idx):
        super().__init__()
        self.sequence_mixer = sequence_mixer
        self.state_mixer = state_mixer
        self.dropout1 = nn.Dropout(embed_dropout if layer_idx == 0 else resid_dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.dropout2 = nn.Dropout(resid_dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, hidden_states, residual=None):
        dropped = self.dropout1(hidden_states)  # drop_path (StochasticDepth, p = 0) is the identity
        residual = (dropped + residual) if residual is not None else dropped
        hidden_states = self.norm1(residual)
        hidden_states = self.sequence_mixer(hidden_states)
        dropped = self.dropout2(hidden_states)
        residual = (dropped + residual) if residual is not None else dropped
        hidden_states = self.norm2(residual)
        hidden_states = self.state_mixer(hidden_states)
        return hidden_states, residual


class RMSNorm(nn.Module):
    """mamba_ssm's RMSNorm (weight only)."""

    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = None


def rms_norm_fn(x, weight, residual=None, eps=1e-5):
    """mamba_ssm's rms_norm_fn with prenorm=True: residual = x + residual; (RMSNorm(residual) · w, residual)."""
    residual = (x + residual) if residual is not None else x
    residual = residual.float()  # residual_in_fp32
    rstd = torch.rsqrt(residual.pow(2).mean(-1, keepdim=True) + eps)
    return residual * rstd * weight, residual


class MambaBlock(nn.Module):
    def __init__(self, mixer, d_model, norm_epsilon=1e-5):
        super().__init__()
        self.mixer = mixer
        self.norm = RMSNorm(d_model, eps=norm_epsilon)

    def forward(self, hidden_states, residual=None):
        hidden_states, residual = rms_norm_fn(hidden_states, self.norm.weight, residual=residual, eps=self.norm.eps)
        hidden_states = self.mixer(hidden_states)
        return hidden_states, residual


class LMBackbone(nn.Module):
    def __init__(self, d_model, vocab_size, max_position_embeddings, layers, resid_dropout=0.0, layer_norm_epsilon=1e-5):
        super().__init__()
        self.embeddings = TokenEmbeddings(d_model, vocab_size, max_position_embeddings)
        self.layers = nn.ModuleList(layers)
        self.drop_f = nn.Dropout(resid_dropout)
        self.ln_f = nn.LayerNorm(d_model, eps=layer_norm_epsilon)

    def forward(self, input_ids):
        hidden_states = self.embeddings(input_ids)
        residual = None
        for layer in self.layers:
            hidden_states, residual = layer(hidden_states, residual)
        dropped = self.drop_f(hidden_states)
        residual = (dropped + residual) if residual is not None else dropped
        return self.ln_f(residual)


class LanguageModel(nn.Module):
    def __init__(self, backbone, d_model, vocab_size):
        super().__init__()
        self.backbone = backbone
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.backbone.embeddings.word_embeddings.weight  # tied

    def forward(self, input_ids):
        return self.lm_head(self.backbone(input_ids))


# ----------------------------------------------------------------------------------------------- attention.py


class SelfAttention(nn.Module):
    def __init__(self, attention_dropout=0.0):
        super().__init__()
        self.dropout_p = attention_dropout

    def forward(self, qkv):
        seqlen = qkv.shape[1]
        q, k, v = qkv.unbind(dim=2)
        softmax_scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.einsum("bthd,bshd->bhts", q, k * softmax_scale)
        causal_mask = torch.triu(torch.full((seqlen, seqlen), -10000.0, device=scores.device), 1)
        scores = scores + causal_mask.to(dtype=scores.dtype)
        attention = torch.softmax(scores, dim=-1, dtype=v.dtype)
        attention_drop = F.dropout(attention, self.dropout_p if self.training else 0.0)
        return torch.einsum("bhts,bshd->bthd", attention_drop, v)


class MHA(nn.Module):
    def __init__(self, d_model, num_heads=1, bias=True, dropout=0.0, layer_idx=None):
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.inner_attn = SelfAttention(attention_dropout=dropout)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        qkv = self.Wqkv(x)
        b, l, _ = qkv.shape
        qkv = qkv.view(b, l, 3, self.num_heads, self.head_dim)  # "... (three h d) -> ... three h d"
        context = self.inner_attn(qkv)
        return self.out_proj(context.reshape(b, l, self.d_model))


# ----------------------------------------------------------------------------------------------- slide_attn.py


class SlidingSelfAttention(nn.Module):
    def __init__(self, block_size=256, attention_dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.dropout_p = attention_dropout

    def forward(self, qkv):
        batch_size, seqlen, d_model = qkv.shape[0], qkv.shape[1], qkv.shape[2]
        q, k, v = qkv.split(d_model // 3, dim=-1)
        softmax_scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q, softmax_scale * k.transpose(-1, -2))
        mask_positions = torch.zeros(seqlen, seqlen)
        for i in range(seqlen):
            mask_positions[i, 0 : max(0, i - self.block_size)] = -10000.0
            mask_positions[i, i + 1 :] = -10000.0
        scores = scores + mask_positions.to(scores.device)[None, :, :]
        attention = torch.softmax(scores, dim=-1, dtype=v.dtype)
        attention_drop = F.dropout(attention, self.dropout_p if self.training else 0.0)
        return torch.matmul(attention_drop, v)


class SlidingAttn(nn.Module):
    def __init__(self, d_model, block_size=256, bias=True, dropout=0.0, **kwargs):
        super().__init__()
        self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.inner_attn = SlidingSelfAttention(block_size=block_size, attention_dropout=dropout)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        return self.out_proj(self.inner_attn(self.Wqkv(x)))


# ----------------------------------------------------------------------------------------------- convolution.py


def fft_conv(u, k, dropout_mask, gelu=True, k_rev=None):
    seqlen = u.shape[-1]
    fft_size = 2 * seqlen
    k_f = torch.fft.rfft(k, n=fft_size) / fft_size
    u_f = torch.fft.rfft(u.to(dtype=k.dtype), n=fft_size)
    if len(u.shape) > 3:
        k_f = k_f.unsqueeze(1)
    y = torch.fft.irfft(u_f * k_f, n=fft_size, norm="forward")[..., :seqlen]
    out = y + u
    if gelu:
        out = F.gelu(out)
    return out.to(dtype=u.dtype)


class ShortConvolution(nn.Module):
    def __init__(self, d_model, kernel_size):
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=kernel_size, groups=d_model, padding=kernel_size - 1)

    def forward(self, x):
        l = x.size(1)
        return self.conv(x.transpose(1, 2))[..., :l].transpose(1, 2)


def positional_embedding_z(emb_dim, seq_len):
    """The z table of convolution.py's / hyena.py's PositionalEmbedding: [1, L, emb_dim]."""
    t = torch.linspace(0, 1, seq_len)[None, :, None]
    bands = (emb_dim - 1) // 2
    t_rescaled = torch.linspace(0, seq_len - 1, seq_len)[None, :, None]
    w = 2 * math.pi * t_rescaled / seq_len
    f = torch.linspace(1e-4, bands - 1, bands)[None, None]
    z = torch.exp(-1j * f * w)
    return torch.cat([t, z.real, z.imag], dim=-1), t


class PositionalEmbedding(nn.Module):
    def __init__(self, emb_dim, seq_len):
        super().__init__()
        z, _ = positional_embedding_z(emb_dim, seq_len)
        self.z = nn.Parameter(z, requires_grad=False)  # a constant in convolution.py (unlike hyena.py's)

    def forward(self, L):
        return self.z[:, :L]


class ImplicitLongConvolution(nn.Module):
    def __init__(self, d_model, l_max, d_emb=3, d_hidden=16):
        super().__init__()
        self.pos_emb = PositionalEmbedding(d_emb, l_max)
        self.mlp = nn.Sequential(nn.Linear(d_emb, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_model))

    def filter(self, l):
        return self.mlp(self.pos_emb(l)).transpose(1, 2)

    def forward(self, x):
        x = x.transpose(1, 2)
        k = self.filter(x.shape[-1])
        y = fft_conv(x, k, dropout_mask=None, gelu=False)
        return y.transpose(1, 2).to(dtype=x.dtype)


class LongConvolution(nn.Module):
    def __init__(self, d_model, l_max):
        super().__init__()
        self.filter = nn.Parameter(torch.randn(d_model, l_max))

    def forward(self, x):
        x = x.transpose(1, 2)
        y = fft_conv(x, self.filter, dropout_mask=None, gelu=False)
        return y.transpose(1, 2).to(dtype=x.dtype)


# ----------------------------------------------------------------------------------------------- base_conv.py


class BaseConv(nn.Module):
    def __init__(self, d_model, l_max, kernel_size=3, layer_idx=None, implicit_long_conv=True):
        super().__init__()
        self.projection = nn.Linear(d_model, d_model)
        if isinstance(kernel_size, list):
            kernel_size = kernel_size[layer_idx]
        if kernel_size == -1:
            self.conv = ImplicitLongConvolution(d_model, l_max=l_max) if implicit_long_conv else LongConvolution(d_model, l_max=l_max)
        else:
            self.conv = ShortConvolution(d_model, kernel_size=kernel_size)

    def forward(self, u):
        u_conv = self.conv(u)
        u_proj = self.projection(u)
        return u_conv * u_proj + u


class Hybrid(nn.Module):
    def __init__(self, mixers, layer_idx):
        super().__init__()
        self.mixer = mixers[layer_idx % len(mixers)]()

    def forward(self, u):
        return self.mixer(u)


# ----------------------------------------------------------------------------------------------- based.py


class TaylorExp(nn.Module):
    def __init__(self, input_dim):
        super().__init__()
        self.input_dim = input_dim
        self.r2 = math.sqrt(2)
        self.rd = math.sqrt(input_dim)
        self.rrd = math.sqrt(self.rd)

    def forward(self, x):
        x2 = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(start_dim=-2) / self.r2
        return torch.cat([torch.ones(x[..., :1].shape).to(x.device), x / self.rrd, x2 / self.rd], dim=-1)


class Based(nn.Module):
    def __init__(self, d_model, feature_dim=16, num_key_value_heads=12, num_heads=12, eps=1e-12, causal=True, train_view="linear", **kwargs):
        super().__init__()
        self.d_model = d_model
        self.train_view = train_view
        self.feature_dim = feature_dim
        self.num_key_value_heads = num_key_value_heads
        self.num_heads = num_heads
        self.head_dim = d_model // num_key_value_heads
        self.causal = causal
        self.feature_map = TaylorExp(feature_dim)
        self.proj_q = nn.Linear(d_model, feature_dim * num_heads, bias=False)
        self.proj_k = nn.Linear(d_model, feature_dim * num_heads, bias=False)
        self.proj_v = nn.Linear(d_model, num_key_value_heads * self.head_dim, bias=False)
        self.proj_o = nn.Linear(num_heads * self.head_dim, d_model, bias=False)
        self.eps = eps

    def forward(self, hidden_states):
        b, l, d = hidden_states.size()
        q, k, v = self.proj_q(hidden_states), self.proj_k(hidden_states), self.proj_v(hidden_states)
        q = q.view(b, l, self.num_heads, self.feature_dim).transpose(1, 2)
        k = k.view(b, l, self.num_key_value_heads, self.feature_dim).transpose(1, 2)
        v = v.view(b, l, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        q, k = self.feature_map(q), self.feature_map(k)
        if self.train_view == "linear":  # no CUDA causal_dot_product: zoology's fallback formula
            q, k, v = q.unsqueeze(-2), k.unsqueeze(-2), v.unsqueeze(-1)
            if self.causal:
                y = (q * (k * v).cumsum(dim=2)).sum(dim=-1) / ((q * k.cumsum(dim=2)).sum(dim=-1) + self.eps)
            else:
                y = (q * (k * v).sum(dim=2, keepdim=True)).sum(dim=-1) / ((q * k.sum(dim=2, keepdim=True)).sum(dim=-1) + self.eps)
        elif self.train_view == "quadratic":
            cumsum_matrix = torch.tril(torch.ones((l, l))).to(q.device, q.dtype)
            A_qk = torch.einsum("bhnd,bhmd->bhnm", q, k) * cumsum_matrix
            out = torch.einsum("bhnm,bhme->bhne", A_qk.to(hidden_states.dtype), v.to(hidden_states.dtype))
            z = 1 / (torch.einsum("bhld,bhld->bhl", q, k.cumsum(2)) + self.eps)
            y = out * z[..., None]
        else:
            raise NotImplementedError(self.train_view)
        y = y.transpose(1, 2).reshape(b, l, -1)  # 'b h l d -> b l (h d)'
        return self.proj_o(y.to(hidden_states.dtype))


# ----------------------------------------------------------------------------------------------- hyena.py


def fftconv_ref(u, k, D, dropout_mask, gelu=True):
    seqlen = u.shape[-1]
    fft_size = 2 * seqlen
    k_f = torch.fft.rfft(k, n=fft_size) / fft_size
    u_f = torch.fft.rfft(u.to(dtype=k.dtype), n=fft_size)
    if len(u.shape) > 3:
        k_f = k_f.unsqueeze(1)
    y = torch.fft.irfft(u_f * k_f, n=fft_size, norm="forward")[..., :seqlen]
    out = y + u * D.unsqueeze(-1)
    if gelu:
        out = F.gelu(out)
    return out.to(dtype=u.dtype)


class Sin(nn.Module):
    def __init__(self, dim, w=10, train_freq=True):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class HyenaPositionalEmbedding(nn.Module):
    def __init__(self, emb_dim, seq_len):
        super().__init__()
        z, t = positional_embedding_z(emb_dim, seq_len)
        self.z = nn.Parameter(z)  # registered with lr 1e-5: a parameter (zoology's Trainer trains it like any other)
        self.register_buffer("t", t)  # lr 0.0: a buffer

    def forward(self, L):
        return self.z[:, :L], self.t[:, :L]


class ExponentialModulation(nn.Module):
    def __init__(self, d_model, fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2, shift=0.0):
        super().__init__()
        self.shift = shift
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])  # lr 0.0

    def forward(self, t, x):
        decay = torch.exp(-t * self.deltas.abs())
        return x * (decay + self.shift)


class Filter(nn.Module):
    def __init__(self, d_model, emb_dim=3, order=16, seq_len=1024, w=1, num_inner_mlps=2):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(d_model))
        act = Sin(dim=order, w=w)  # one module, appended three times
        self.pos_emb = HyenaPositionalEmbedding(emb_dim, seq_len)
        layers = [nn.Linear(emb_dim, order), act]
        for _ in range(num_inner_mlps):
            layers += [nn.Linear(order, order), act]
        layers.append(nn.Linear(order, d_model, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        self.modulation = ExponentialModulation(d_model)

    def filter(self, L):
        z, t = self.pos_emb(L)
        h = self.implicit_filter(z)
        return self.modulation(t, h)

    def forward(self, x, L, k, bias):
        return fftconv_ref(x, k, bias, dropout_mask=None, gelu=False).to(dtype=x.dtype)


class Hyena(nn.Module):
    def __init__(self, d_model, l_max, filter_order=64, short_filter_order=3):
        super().__init__()
        self.d_model = d_model
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        total_width = 3 * d_model
        self.short_filter = nn.Conv1d(total_width, total_width, kernel_size=short_filter_order, groups=total_width, padding=short_filter_order - 1)
        self.filter_fn = Filter(d_model, order=filter_order, seq_len=l_max)

    def forward(self, u):
        l = u.size(1)
        u = self.in_proj(u).transpose(1, 2)  # b d l
        uc = self.short_filter(u)[..., :l]
        b = uc.shape[0]
        uc = uc.reshape(b, 1, 3 * self.d_model, 1, l)  # "b (ho v) (z l) -> b ho v z l", 1 head, 1 block
        x1, x2, v = uc.split(self.d_model, dim=2)
        v = v * x1
        k = self.filter_fn.filter(l)  # [1, l, d]
        k = k.transpose(1, 2)[0]  # "c l d -> c d l", [0]
        v = self.filter_fn(v, l, k=k, bias=self.filter_fn.bias[None, :, None])
        v = v * x2
        y = v.reshape(b, self.d_model, l).transpose(1, 2)  # "b h v z l -> b (z l) (h v)"
        return self.out_proj(y)


# ----------------------------------------------------------------------------------------------- h3/


class SSKernelShift(nn.Module):
    def __init__(self, H, N, L, channels=1):
        super().__init__()
        self.L, self.N, self.H = L, N, H
        B = torch.zeros(H, N)
        B[..., 0] = 1.0  # e_1
        self.B = nn.Parameter(B)  # registered with lr None: a trained parameter
        self.C = nn.Parameter(torch.zeros(channels, H, N))

    def forward(self, L):
        B_f = torch.fft.rfft(self.B.to(torch.float32), n=2 * self.N)
        C_f = torch.fft.rfft(self.C.to(torch.float32), n=2 * self.N)
        k = torch.fft.irfft(B_f.conj() * C_f, n=2 * self.N)[..., : min(self.N, L)]
        if self.N < L:
            k = F.pad(k, (0, L - self.N))
        return k.float()


class SSKernelDiag(nn.Module):
    """S4D kernel, disc 'bilinear', real_type 'exp', log_vandermonde_naive (no pykeops / CUDA)."""

    def __init__(self, H, N, channels=1):
        super().__init__()
        n = N // 2
        self.H, self.channels = H, channels
        self.C = nn.Parameter(torch.zeros(channels, H, n, 2))
        B = torch.zeros(H, n, 2)
        B[..., 0] = 1.0  # recallbench folds B into C: B = 1 makes the functions equal
        self.B = nn.Parameter(B)
        self.log_dt = nn.Parameter(torch.zeros(H))
        self.inv_A_real = nn.Parameter(torch.zeros(H, n))
        self.A_imag = nn.Parameter(torch.zeros(H, n))

    def forward(self, L):
        dt = torch.exp(self.log_dt)
        C = torch.view_as_complex(self.C.to(torch.float32))
        A = -torch.exp(self.inv_A_real) + 1j * self.A_imag
        B = torch.view_as_complex(self.B.to(torch.float32)).unsqueeze(0)  # 't n -> 1 (v t) n', v = 1
        dtA = A * dt.unsqueeze(-1)
        C = (B[:, None, :, :] * C).view(-1, self.H, A.shape[-1])
        C = C * (1.0 - dtA / 2).reciprocal() * dt.unsqueeze(-1)
        dA = (1.0 + dtA / 2) / (1.0 - dtA / 2)
        x = dA.log()
        vandermonde = torch.exp(x.unsqueeze(-1) * torch.arange(L).to(x))  # (H n L)
        K = 2 * torch.einsum("chn,hnl->chl", C, vandermonde).real
        K = K.view(-1, self.channels, self.H, L)
        return K[-1]  # (C H L)


class SSKernel(nn.Module):
    def __init__(self, kernel):
        super().__init__()
        self.kernel = kernel

    def forward(self, L):
        return self.kernel(L=L)


class H3(nn.Module):
    def __init__(self, d_model, d_state=64, l_max=None, head_dim=1):
        super().__init__()
        self.d_model, self.head_dim = d_model, head_dim
        self.H = d_model // head_dim
        self.N, self.L = d_state, l_max
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.ssm_k_kernel = SSKernel(SSKernelShift(d_model, d_state, l_max))
        self.ssm_k_D = nn.Parameter(torch.randn(d_model))
        self.kernel = SSKernel(SSKernelDiag(self.H, d_state))
        self.D = nn.Parameter(torch.randn(self.H))
        self.output_linear = nn.Linear(d_model, d_model)

    def forward(self, u):
        L = u.size(-2)
        L_kernel = L if self.L is None else min(L, self.L)
        ssm_kernel = self.kernel(L=L_kernel)[0]  # '1 h l -> h l'
        b = u.shape[0]
        u2 = u.reshape(b * L, self.d_model)  # 'b l h -> (b l) h'
        q = self.q_proj.weight @ u2.T + self.q_proj.bias.unsqueeze(-1)
        k = self.k_proj.weight @ u2.T + self.k_proj.bias.unsqueeze(-1)
        v = self.v_proj.weight @ u2.T + self.v_proj.bias.unsqueeze(-1)
        q, k, v = [x.reshape(self.d_model, b, L).transpose(0, 1) for x in (q, k, v)]  # 'h (b l) -> b h l'
        ssm_k_kernel = self.ssm_k_kernel(L=L_kernel)[0]
        fft_size = L_kernel + L
        ssm_k_kernel_f = torch.fft.rfft(ssm_k_kernel, n=fft_size)
        k_f = torch.fft.rfft(k.to(ssm_kernel.dtype), n=fft_size)
        shift_k_out = torch.fft.irfft(ssm_k_kernel_f * k_f, n=fft_size)[..., :L]
        k = shift_k_out + self.ssm_k_D.unsqueeze(-1) * k
        P, H = self.head_dim, self.H
        # kv = 'b (h d1) l -> b d1 1 h l' * 'b (h d2) l -> b 1 d2 h l'
        k5 = k.reshape(b, H, P, L).permute(0, 2, 1, 3).unsqueeze(2)
        v5 = v.reshape(b, H, P, L).permute(0, 2, 1, 3).unsqueeze(1)
        kv = k5 * v5  # b d1 d2 h l
        kv_f = torch.fft.rfft(kv.to(dtype=ssm_kernel.dtype), n=fft_size) / fft_size
        ssm_kernel_f = torch.fft.rfft(ssm_kernel, n=fft_size)
        y = torch.fft.irfft(kv_f * ssm_kernel_f, n=fft_size, norm="forward")[..., :L]
        y = y + kv * self.D.unsqueeze(-1)
        q5 = q.reshape(b, H, P, L).permute(0, 2, 1, 3).unsqueeze(2)  # b d1 1 h l
        if P > 1:
            y = (q5 * y).sum(dim=1)  # mul_sum: b d2 h l
            y = y.reshape(b, P * H, L)  # 'b d h l -> b (d h) l'
        else:
            y = (y * q5).reshape(b, H, L)
        y = y.transpose(1, 2)  # 'b h l -> b l h'
        return self.output_linear(y)


# ----------------------------------------------------------------------------------------------- mamba.py


def selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True):
    """mamba_ssm's selective_scan_ref for real A and input-dependent B, C [b, N, l]."""
    delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    ys = []
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y + u * D.unsqueeze(-1)
    return out * F.silu(z)


class Mamba(nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", conv_bias=True, bias=False):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, bias=conv_bias, kernel_size=d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + d_state * 2, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def forward(self, hidden_states):
        batch, seqlen, dim = hidden_states.shape
        xz = (self.in_proj.weight @ hidden_states.reshape(-1, dim).T).reshape(-1, batch, seqlen).transpose(0, 1)  # b d l
        A = -torch.exp(self.A_log.float())
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :seqlen])  # causal_conv1d_fn(..., activation='silu')
        x_dbl = self.x_proj(x.transpose(1, 2).reshape(batch * seqlen, -1))  # (b l) d
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (self.dt_proj.weight @ dt.t()).reshape(-1, batch, seqlen).transpose(0, 1)  # b d l
        B = B.reshape(batch, seqlen, -1).transpose(1, 2).contiguous()  # b n l
        C = C.reshape(batch, seqlen, -1).transpose(1, 2).contiguous()
        y = selective_scan_ref(x, dt, A, B, C, self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))


# ----------------------------------------------------------------------------------------------- rwkv.py


def wkv_forward(w, u, k, v):
    """The WKV CUDA kernel's forward (rwkv/v4/wkv_cuda.cu) in torch ops, fp32. w = −exp(time_decay)."""
    Bsz, T, C = k.shape
    p = k.new_zeros(Bsz, C)
    q = k.new_zeros(Bsz, C)
    o = k.new_full((Bsz, C), -1e38)
    ys = []
    for i in range(T):
        kk, vv = k[:, i], v[:, i]
        no = torch.maximum(o, u + kk)
        A = torch.exp(o - no)
        B = torch.exp(u + kk - no)
        ys.append((A * p + B * vv) / (A * q + B))
        no = torch.maximum(w + o, kk)
        A = torch.exp(w + o - no)
        B = torch.exp(kk - no)
        p = A * p + B * vv
        q = A * q + B
        o = no
    return torch.stack(ys, dim=1)


class RWKVTimeMixer(nn.Module):
    def __init__(self, l_max, d_model=512, n_layer=12, layer_idx=-1):
        super().__init__()
        attn_sz = d_model
        self.time_decay = nn.Parameter(torch.zeros(attn_sz))
        self.time_first = nn.Parameter(torch.zeros(attn_sz))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, d_model))
        self.time_mix_v = nn.Parameter(torch.zeros(1, 1, d_model))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, d_model))
        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))
        self.key = nn.Linear(d_model, attn_sz, bias=False)
        self.value = nn.Linear(d_model, attn_sz, bias=False)
        self.receptance = nn.Linear(d_model, attn_sz, bias=False)
        self.output = nn.Linear(attn_sz, d_model, bias=False)

    def forward(self, x):
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v, r = self.key(xk), self.value(xv), self.receptance(xr)
        sr = torch.sigmoid(r)
        rwkv = sr * wkv_forward(-torch.exp(self.time_decay.float()), self.time_first.float(), k.float(), v.float())
        return self.output(rwkv)


# ----------------------------------------------------------------------------------------------- builders


def build_model(case, d_model, n_layers, vocab_size, l_max, positions, mlp):
    """zoology's LanguageModel for one of bench/export-weights.ts's cases (the configs of zoology's paper presets)."""
    def seq_mixer(i):
        if case == "attention" or case == "attention+mlp":
            return MHA(d_model, num_heads=1, dropout=0.1)
        if case == "baseconv":
            return BaseConv(d_model, l_max=l_max, kernel_size=[3, -1, 3, -1], layer_idx=i)
        if case == "based":
            return Hybrid([lambda: BaseConv(d_model, l_max=l_max, kernel_size=3, implicit_long_conv=True),
                           lambda: Based(d_model, feature_dim=8, num_key_value_heads=1, num_heads=1, train_view="quadratic")], i)
        if case == "sliding-window":
            return Hybrid([lambda: BaseConv(d_model, l_max=l_max, kernel_size=3, implicit_long_conv=True),
                           lambda: SlidingAttn(d_model, block_size=4, dropout=0.0)], i)
        if case == "hyena":
            return Hyena(d_model, l_max=l_max)
        if case == "h3":
            return H3(d_model, d_state=l_max, l_max=l_max, head_dim=2)
        if case == "rwkv":
            return RWKVTimeMixer(l_max=l_max, d_model=d_model, layer_idx=i)
        raise ValueError(case)

    if case == "mamba":
        layers = [MambaBlock(Mamba(d_model, d_state=8), d_model) for i in range(n_layers)]
    else:
        layers = [TransformerBlock(seq_mixer(i), MLP(d_model, 4) if mlp else nn.Identity(), d_model, embed_dropout=0.1, resid_dropout=0.0, layer_idx=i) for i in range(n_layers)]
    backbone = LMBackbone(d_model, vocab_size, l_max if positions else 0, layers)
    return LanguageModel(backbone, d_model, vocab_size)

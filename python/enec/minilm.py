"""A plain-torch BERT encoder matching all-MiniLM-L6-v2's state_dict names, for demos and tests
(transformers is not a dependency). Mean-pooled sentence embeddings, as sentence-transformers does."""
from __future__ import annotations

import torch
from torch import nn


class _Attn(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class _Out(nn.Module):
    def __init__(self, d_in, d):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)


class _Intermediate(nn.Module):
    def __init__(self, d, d_ff):
        super().__init__()
        self.dense = nn.Linear(d, d_ff)


class _AttentionBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.self = _Attn(d)
        self.output = _Out(d, d)


class _Layer(nn.Module):
    def __init__(self, d, d_ff, heads):
        super().__init__()
        self.heads = heads
        self.attention = _AttentionBlock(d)
        self.intermediate = _Intermediate(d, d_ff)
        self.output = _Out(d_ff, d)

    def forward(self, h, mask):
        a = self.attention.self
        b, t, d = h.shape
        split = lambda x: x.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(a.query(h)), split(a.key(h)), split(a.value(h))
        att = (q @ k.transpose(-1, -2)) / (d // self.heads) ** 0.5 + mask
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        o = self.attention.output
        h = o.LayerNorm(o.dense(ctx) + h)
        f = torch.nn.functional.gelu(self.intermediate.dense(h))
        return self.output.LayerNorm(self.output.dense(f) + h)


class _Embeddings(nn.Module):
    def __init__(self, vocab, d, max_pos):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.position_embeddings = nn.Embedding(max_pos, d)
        self.token_type_embeddings = nn.Embedding(2, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(max_pos)[None], persistent=True)

    def forward(self, ids):
        pos = self.position_ids[:, :ids.shape[1]]
        e = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(torch.zeros_like(ids))
        return self.LayerNorm(e)


class _Encoder(nn.Module):
    def __init__(self, n, d, d_ff, heads):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(d, d_ff, heads) for _ in range(n))


class _Pooler(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dense = nn.Linear(d, d)


class MiniLM(nn.Module):
    def __init__(self, vocab=30522, d=384, layers=6, d_ff=1536, heads=12, max_pos=512):
        super().__init__()
        self.embeddings = _Embeddings(vocab, d, max_pos)
        self.encoder = _Encoder(layers, d, d_ff, heads)
        self.pooler = _Pooler(d)

    def forward(self, ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(ids)
        h = self.embeddings(ids)
        mask = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
        for layer in self.encoder.layer:
            h = layer(h, mask)
        m = attention_mask[..., None].to(h.dtype)
        return (h * m).sum(1) / m.sum(1)


def from_state_dict(sd: dict) -> MiniLM:
    model = MiniLM()
    model.load_state_dict(sd)
    return model.to(sd["embeddings.word_embeddings.weight"].dtype).eval()

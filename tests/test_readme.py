"""The README's Python examples run.

Every ```python block of README.md, read when the tests run (the README is not copied here), is
executed in a fresh temporary directory. Examples use placeholder names (`w_fp8`, `model`,
`"my-model-enec/"`, ...): the setups below create small stand-ins for exactly the placeholders a
block mentions, so a block with a new placeholder fails with a NameError until a setup is added.

A block that cannot run here (an NPU, the network) is listed in NOT_RUNNABLE by a line that only it
contains, with the reason. Such a block is not collected at all (no test is skipped and counted as
passing); each entry must still match a block, and at least MIN_BLOCKS blocks must run.
"""
import os
import re

import pytest
import torch

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")

# distinctive line of the block -> why it cannot run in CI
NOT_RUNNABLE: dict = {}
MIN_BLOCKS = 5       # the README's Use, other-dtype, checkpoint, transformers and distributed examples


def _blocks():
    """(first line number, code) of every ```python block."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    out = []
    for m in re.finditer(r"^```python[ \t]*\n(.*?)^```", text, flags=re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


BLOCKS = _blocks()


def _runnable():
    return [(line, code) for line, code in BLOCKS if not any(k in code for k in NOT_RUNNABLE)]


RUNNABLE = _runnable()


# ----------------------------------------------------------------------------- placeholders

def _tiny_model():
    """A module with the parameter names the checkpoint example reads."""
    class Node(torch.nn.Module):
        pass

    torch.manual_seed(0)
    m = Node()
    m.embeddings = Node()
    m.embeddings.word_embeddings = torch.nn.Embedding(300, 32)
    m.encoder = Node()
    m.encoder.layer = torch.nn.ModuleList([Node()])
    m.encoder.layer[0].output = Node()
    m.encoder.layer[0].output.dense = torch.nn.Linear(32, 32)
    m.forward = lambda ids: m.encoder.layer[0].output.dense(m.embeddings.word_embeddings(ids))
    return m.to(torch.bfloat16)


def _hf_folder(tmp_path):
    """A small causal LM saved and compressed with `enec compress DIR OUT` as "my-model-enec/"."""
    import transformers
    from enec import cli
    cfg = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "my-model")
    assert cli.main(["compress", str(tmp_path / "my-model"), str(tmp_path / "my-model-enec")]) == 0


def _process_group(tmp_path):
    """A one-process gloo group, so the distributed example runs as rank 0 of 1."""
    import torch.distributed as dist
    assert not dist.is_initialized(), "another test left a process group behind"
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)


# placeholder (a regular expression over the block) -> what it needs, set up in the namespace
PLACEHOLDERS = [
    # later blocks continue the first one, which imports torch and enec
    (r"\btorch\.", lambda ns, tmp: ns.update(torch=torch)),
    (r"\benec\.", lambda ns, tmp: ns.update(enec=__import__("enec"))),
    (r"\bw_fp8\b", lambda ns, tmp: ns.update(w_fp8=(torch.randn(3000) * 40).to(torch.float8_e4m3fn))),
    (r"\bw_int8\b", lambda ns, tmp: ns.update(w_int8=torch.randint(-60, 60, (3000,), dtype=torch.int8))),
    (r"\bpruned_bf16\b", lambda ns, tmp: ns.update(
        pruned_bf16=torch.where(torch.rand(3000) < 0.5, 0.0, torch.randn(3000)).bfloat16())),
    (r"\bw\b", lambda ns, tmp: ns.update(w=torch.randn(300, 20).bfloat16())),
    (r"\bmodel\b", lambda ns, tmp: ns.update(model=_tiny_model())),
    (r"\bsd\b", lambda ns, tmp: ns.update(sd=_tiny_model().state_dict())),
    (r"\brank\b", lambda ns, tmp: ns.update(rank=0)),
    (r"\bflat_shard\b", lambda ns, tmp: ns.update(flat_shard=torch.randn(1000).bfloat16())),
    (r"my-model-enec/", lambda ns, tmp: _hf_folder(tmp)),
    (r"enec\.distributed", lambda ns, tmp: _process_group(tmp)),
]


def _ids():
    return [f"README-line{line}" for line, _ in RUNNABLE]


@pytest.mark.parametrize("line,code", RUNNABLE, ids=_ids())
def test_readme_python_block_runs(line, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__readme__"}
    for pattern, setup in PLACEHOLDERS:
        if re.search(pattern, code):
            setup(ns, tmp_path)
    try:
        exec(compile(code, f"README.md:{line}", "exec"), ns)
    finally:
        import torch.distributed as dist
        if dist.is_initialized():          # only _process_group can have made it (it asserts so)
            dist.destroy_process_group()


def test_enough_readme_blocks_run():
    """The extraction still finds the examples (a changed fence would silently test nothing),
    and every NOT_RUNNABLE entry still names a block."""
    assert len(RUNNABLE) >= MIN_BLOCKS, f"only {len(RUNNABLE)} runnable python blocks in README.md"
    for key in NOT_RUNNABLE:
        assert any(key in code for _, code in BLOCKS), f"NOT_RUNNABLE entry {key!r} matches no block"

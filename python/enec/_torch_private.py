"""Every private torch API enec relies on, in one place. tests/test_torch_private.py calls each of
them for what enec needs of it, so a torch upgrade that removes or changes one fails that test by
name instead of silently changing enec's behaviour (several callers fall back on an exception)."""
from __future__ import annotations

import torch


def dispatch_mode_active() -> bool:
    """True while a TorchDispatchMode (FakeTensorMode, make_fx, ...) is on the dispatch stack."""
    return torch._C._len_torch_dispatch_stack() != 0


def has_kernel(op: str, dispatch_key: str) -> bool:
    """Whether the dispatcher has a kernel for `op` ("enec::decompress") under `dispatch_key`
    ("CPU", "CUDA", "PrivateUse1", ...)."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(op, dispatch_key)


def default_store():
    """The c10d Store of the default process group (raises without one)."""
    from torch.distributed import distributed_c10d
    return distributed_c10d._get_default_store()

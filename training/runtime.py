"""Where training runs: device, threads, DDP ranks (the process group, the model wrapped,
flags agreed between ranks) and mixed precision.

bf16 on CPU needs oneDNN's bf16 LSTM kernel (AVX-512 BF16 or AMX). On an AVX2-only CPU it
fails deep inside the first forward pass, so support is decided once, up front, by a tiny
trial LSTM step, and ``amp = "bf16"`` is refused with a message naming the setting.
"""

from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from training.config import AMP_CHOICES, ConfigError, TrainConfig


@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        amp = f", amp {str(self.amp_dtype).removeprefix('torch.')}" if self.amp_dtype else ""
        ranks = f" x{self.world_size}" if self.world_size > 1 else ""
        threads = f" ({torch.get_num_threads()} threads)" if self.device.type == "cpu" else ""
        return f"{name}{threads}{ranks}{amp}"

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as trained: in DistributedDataParallel when there are several ranks."""
        return DistributedDataParallel(model) if self.world_size > 1 else model

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank, so that all ranks stop together."""
        if self.world_size == 1:
            return flag
        tensor = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def finish(self) -> None:
        """Wait for every rank, then leave the process group."""
        if self.world_size > 1:
            dist.barrier()
            dist.destroy_process_group()


@functools.cache
def cpu_bf16_supported() -> bool:
    """Whether an LSTM trains under CPU bf16 autocast here (forward and backward)."""
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = lstm(torch.zeros(1, 2, 4))
        out.float().sum().backward()
    except RuntimeError:  # oneDNN: "could not create a primitive descriptor ..."
        return False
    return True


def pick_amp_dtype(amp: str, use_cuda: bool) -> torch.dtype | None:
    """The autocast dtype for the ``amp`` setting; ConfigError for what this machine cannot run."""
    if amp not in AMP_CHOICES:
        raise ConfigError(f"amp must be one of {', '.join(AMP_CHOICES)}; got {amp!r}")
    if amp == "off":
        return None
    if amp == "auto":  # CPU autocast is slower than fp32 for these small LSTMs: off on CPU
        if not use_cuda:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16":
        if not use_cuda:  # oneDNN has no fp16 LSTM kernel
            raise ConfigError('amp = "fp16" needs CUDA; on CPU use amp = "bf16" or "off"')
        return torch.float16
    supported = torch.cuda.is_bf16_supported() if use_cuda else cpu_bf16_supported()
    if not supported:
        where = "this GPU" if use_cuda else "this CPU (oneDNN needs AVX-512 BF16 or AMX)"
        raise ConfigError(
            f'amp = "bf16" is not supported on {where}; '
            'set amp = "off" or "auto" in the config, or pass --amp off'
        )
    return torch.bfloat16


def setup_runtime(config: TrainConfig) -> Runtime:
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    amp_dtype = pick_amp_dtype(config.amp, use_cuda)  # refuse before any rank starts work
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        threads = config.threads or os.cpu_count() or 1
        torch.set_num_threads(max(1, threads // world_size))
    if world_size > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Runtime(device, amp_dtype, rank, world_size)

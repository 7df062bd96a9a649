"""Several processes (torchrun / accelerate launch): which one this is, and the few collective
steps textclf needs. One process (no launcher) is the common case: everything here is then a
no-op, and torch.distributed is never started."""
from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def start() -> None:
    """Join the process group the launcher set up (gloo on CPU, NCCL on GPU); the Trainer
    reuses it."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState
        PartialState(cpu=not torch.cuda.is_available())


def stop() -> None:
    """Leave the process group (every process, at the end of its work, the last one included).
    gloo's threads must not outlive the interpreter: a process that exits still in the group
    can abort with SIGABRT on its way out, and the launcher then fails the whole run."""
    if world_size() > 1:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.destroy_process_group()


def exit_worker() -> None:
    """End a process other than rank 0 whose work is done (the CLI, after `train`): exit at once,
    skipping interpreter finalization, where gloo's threads could still abort (SIGABRT) after the
    group was left, about one two-process launch in fifteen, and fail the launch. Rank 0 and a
    single process return normally."""
    if world_size() > 1 and not is_main():
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def broadcast(obj=None):
    """Rank 0's `obj`, on every rank (pickled over the process group)."""
    if world_size() == 1:
        return obj
    import torch.distributed as dist
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree(flag: bool) -> bool:
    """Rank 0's decision, on every rank: a step's save must happen everywhere or nowhere."""
    if world_size() == 1:
        return flag
    import torch
    import torch.distributed as dist
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist
        dist.barrier()


def on_main(fn, *args, **kwargs):
    """Run `fn` on rank 0 alone and hand its result (or the TextclfError it raised) to every
    rank, so a bad data file ends all processes with the same one sentence."""
    from textclf.errors import TextclfError

    result = error = None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except TextclfError as exc:
            error = exc
    result, message = broadcast((result, None if error is None else str(error)))
    if error is not None:
        raise error
    if message is not None:
        raise TextclfError(message)
    return result

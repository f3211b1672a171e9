#!/usr/bin/python3
"""One rank of PyTorch DistributedDataParallel (gloo) for `bench-lan` (docs/benchmarks.md, "Across a LAN").

Run by scripts/bench-lan.ts in a lab host with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
GLOO_SOCKET_IFNAME set. The workload is the same MLP, global batch and plain SGD lr 0.1 as
dptrain's W1/W2 on synthetic 784-feature data; one thread per rank. It measures, after a warm-up:
  step_ms     median step time of timed windows (forward, backward with DDP's bucketed all-reduce, SGD)
  step_ms_mean  the mean step time over all timed windows' steps (the windows are of equal length)
  nosync_ms   the same steps under model.no_sync() (no communication): compute + update
  allreduce_ms  one dist.all_reduce of the whole flat gradient alone (the communication, unhidden)
and prints one line `RESULT {json}` on rank 0. --hook fp16 registers DDP's fp16_compress_hook.
"""
import argparse, json, os, statistics, sys, time, datetime

p = argparse.ArgumentParser()
p.add_argument("--workload", required=True, choices=["W1", "W2"])
p.add_argument("--hook", default="none", choices=["none", "fp16"])
p.add_argument("--windows", type=int, default=3)
p.add_argument("--window-steps", type=int, default=20)
p.add_argument("--warmup-steps", type=int, default=10)
args = p.parse_args()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.distributed as dist

SIZES = {"W1": ([784, 256, 128, 10], 256), "W2": ([784, 1024, 1024, 10], 512)}
sizes, GB = SIZES[args.workload]
torch.set_num_threads(1)
world = int(os.environ["WORLD_SIZE"])
rank = int(os.environ["RANK"])
dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
LB = GB // world

# The PyTorch peer's data (docs/benchmarks.md): 60,000 x 784 uniform pixels, labels from a random
# linear teacher, as many samples as dptrain's side holds (it was 8,192 before the ninth pass).
N = 60000
rng = np.random.default_rng(1234)
Xn = rng.random((N, 784), dtype=np.float32)
teacher = rng.standard_normal((784, 10)).astype(np.float32)
X = torch.from_numpy(Xn)
Y = torch.from_numpy(np.argmax((Xn - 0.5) @ teacher, axis=1).astype(np.int64))
torch.manual_seed(0)
layers = []
for i in range(len(sizes) - 1):
    layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    if i < len(sizes) - 2:
        layers.append(nn.ReLU())
from torch.nn.parallel import DistributedDataParallel as DDP
model = DDP(nn.Sequential(*layers))
if args.hook == "fp16":
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    model.register_comm_hook(None, default_hooks.fp16_compress_hook)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
nparams = sum(q.numel() for q in model.parameters())
step_i = 0


def one_step():
    global step_i
    s = (step_i * GB + rank * LB) % (N - LB)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(X[s:s + LB]), Y[s:s + LB]).backward()
    opt.step()
    step_i += 1


def window(steps, nosync=False):
    dist.barrier()
    t0 = time.perf_counter()
    if nosync:
        with model.no_sync():
            for _ in range(steps):
                one_step()
    else:
        for _ in range(steps):
            one_step()
    dist.barrier()
    return 1e3 * (time.perf_counter() - t0) / steps


for _ in range(args.warmup_steps):
    one_step()
step_ms = [window(args.window_steps) for _ in range(args.windows)]
nosync_ms = [window(args.window_steps, nosync=True) for _ in range(args.windows)]
flat = torch.zeros(nparams)
dist.barrier()
ar = []
for _ in range(5):
    dist.barrier()
    t0 = time.perf_counter()
    dist.all_reduce(flat)
    ar.append(1e3 * (time.perf_counter() - t0))
dist.barrier()
dist.destroy_process_group()
if rank == 0:
    print("RESULT " + json.dumps(dict(workload=args.workload, world=world, hook=args.hook, params=nparams, global_batch=GB,
                                      step_ms=statistics.median(step_ms), step_ms_mean=statistics.mean(step_ms), nosync_ms=statistics.median(nosync_ms),
                                      allreduce_ms=statistics.median(ar), torch=torch.__version__)), flush=True)

#!/usr/bin/env python3
"""PyTorch (CPU) peer for the training-speed benchmark.

The same two models as src/model/{unet,denoiser,cvae}.rs (imported from the module that
`denoise-lab export-torch` ships, src/export/denoise_lab_model.py) and the same training step as
src/train.rs `train_step` (Adam 2e-3 with global-norm clipping at 1.0), timed with the protocol
shared by every peer: `warmup` untimed steps, then `blocks` blocks of `steps_per_block` steps,
each block ending with a readback of the last loss (`.item()`, the peer's "sync").

  python bench/torch_ref.py --model denoiser|cvae --channels C --batch B --levels L
      [--cond-dim 64] [--latent 32] [--warmup 3] [--blocks 10] [--steps-per-block 5]
      [--threads N] [--json] [--check STEPS]

Prints one JSON line. `--check STEPS` instead trains STEPS steps and prints the loss per window
of 10 steps on stderr (does the model train at all?). Data are random "images" in [0, 1]: the
speed of a step does not depend on pixel values.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

# The models are the ones `denoise-lab export-torch` ships (src/export/denoise_lab_model.py): one
# PyTorch copy of the architecture, checked against the Rust model by scripts/test-torch-export.sh.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "export"))
import denoise_lab_model as dl  # noqa: E402


def denoiser_loss(model, y, lev, sched):
    """Mean over the batch of ||y - yhat(z_l, l)||^2 / pixels, z_l ~ q(z_l | y) (train.rs)."""
    z = y * sched["signal"] + torch.randn_like(y) * sched["noise_std"]
    return (y - model(z, lev)).pow(2).mean(dim=(1, 2, 3)).mean()


def cvae_loss(model, y, lev, sched):
    """KL + NLL of one CVAE step (src/model/cvae.rs `terms`): z_{l-1} from the closed form, then
    one encoder step to z_l; the decoder's sigma is fixed per level."""
    z_prev = y * sched["signal_prev"] + torch.randn_like(y) * sched["noise_std_prev"]
    z_l = z_prev * sched["a"] + torch.randn_like(y) * sched["step_std"]
    mu, logvar = model.encode(z_prev, z_l, lev)
    eps = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    mean = model.decode(eps, z_l, lev)
    log_sigma = sched["log_sigma"]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
    pixels = y.shape[2] * y.shape[3]
    nll = (0.5 * ((z_prev - mean) * (-log_sigma).exp()).pow(2)).sum(dim=(1, 2, 3))
    nll = nll + log_sigma.flatten() * pixels + 0.5 * math.log(2 * math.pi) * pixels
    return (kl + nll).mean()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["denoiser", "cvae"], required=True)
    p.add_argument("--channels", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--levels", type=int, required=True)
    p.add_argument("--cond-dim", type=int, default=64)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--steps-per-block", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--json", action="store_true", help="accepted for symmetry: the output is always one JSON line")
    p.add_argument("--check", type=int, default=0, metavar="STEPS", help="train STEPS steps, print the loss, no timing")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    L, B = a.levels, a.batch
    alpha = 0.01 ** (1.0 / L)
    cfg = {"levels": L, "a": alpha, "base_channels": a.channels, "cond_dim": a.cond_dim, "latent_dim": a.latent}
    model = dl.Denoiser(cfg) if a.model == "denoiser" else dl.Cvae(cfg)
    loss_fn = denoiser_loss if a.model == "denoiser" else cvae_loss
    params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.999), eps=1e-8)

    # Host-side tables indexed by level (0..L), like the per-sample coefficients of train.rs.
    lv = torch.arange(L + 1, dtype=torch.float64)
    signal = (alpha ** lv).float()
    noise_std = (1.0 - alpha ** (2 * lv)).clamp(min=0).sqrt().float()
    log_sigma = torch.tensor([math.log(model.sigma(l)) if l > 0 and a.model == "cvae" else 0.0 for l in range(L + 1)])
    images = torch.rand(1000, 1, 28, 28)  # "the dataset", built once

    def step():
        idx = torch.randint(0, images.shape[0], (B,))
        lev = torch.randint(1, L + 1, (B,))
        y = images[idx]
        sched = {
            "signal": signal[lev].view(B, 1, 1, 1), "noise_std": noise_std[lev].view(B, 1, 1, 1),
            "signal_prev": signal[lev - 1].view(B, 1, 1, 1), "noise_std_prev": noise_std[lev - 1].view(B, 1, 1, 1),
            "a": alpha, "step_std": math.sqrt(1 - alpha * alpha), "log_sigma": log_sigma[lev].view(B, 1, 1, 1),
        }
        loss = loss_fn(model, y, lev, sched)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    if a.check:
        window = []
        for s in range(1, a.check + 1):
            window.append(step().item())
            if s % 10 == 0 or s == a.check:
                print(f"steps {s - len(window) + 1:4d}-{s:4d}: mean loss {statistics.fmean(window):.5f}", file=sys.stderr)
                window = []
        return

    # An independent FLOP count: matmuls and convolutions of forward + backward of one step
    # (elementwise ops, pooling and the optimiser are not counted: they are a small fraction).
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()

    for _ in range(a.warmup):
        step()
    per_step = []
    for _ in range(a.blocks):
        t0 = time.perf_counter()
        for _ in range(a.steps_per_block):
            loss = step()
        loss.item()  # the block's readback: every peer ends a block by reading the last loss
        per_step.append((time.perf_counter() - t0) * 1000 / a.steps_per_block)

    print(json.dumps({
        "peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "model": a.model, "channels": a.channels, "batch": B, "levels": L,
        "ms_per_step_median": statistics.median(per_step), "ms_per_step_all": per_step,
        "flops_per_step": flops, "params": params,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch (CPU) peer for the training-speed benchmark.

The same two models as src/model/{unet,denoiser,cvae}.rs and the same training step as
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
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

LEVEL_FEATURES = 32


def level_features_table(levels):
    """Row l (0..L) = the 32 sinusoidal features of t = l / L, as `level_features` in unet.rs.
    A table indexed per step: the Rust trainer builds them on the host too."""
    t = torch.arange(levels + 1, dtype=torch.float64) / max(levels, 1)
    w = torch.tensor([2.0 ** k * math.pi / 2 / 4 for k in range(LEVEL_FEATURES // 2)], dtype=torch.float64)
    wt = t[:, None] * w[None, :]
    return torch.cat([wt.sin(), wt.cos()], dim=1).float()


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class CondEmbedding(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(LEVEL_FEATURES, d), nn.Linear(d, d)

    def forward(self, f):
        return self.fc2(F.silu(self.fc1(f)))


class ResBlock(nn.Module):
    """x + conv2(silu(conv1(silu(x)) + bias(cond)))."""

    def __init__(self, ch, d):
        super().__init__()
        self.conv1, self.cond, self.conv2 = conv3x3(ch, ch), nn.Linear(d, ch), conv3x3(ch, ch)

    def forward(self, x, cond):
        h = self.conv1(F.silu(x))
        bias = self.cond(F.silu(cond))[:, :, None, None]
        return x + self.conv2(F.silu(h + bias))


class UNet(nn.Module):
    def __init__(self, cin, cout, c, d):
        super().__init__()
        c2 = 2 * c
        self.conv_in, self.res_full = conv3x3(cin, c), ResBlock(c, d)
        self.down_half, self.res_half = conv3x3(c, c2, 2), ResBlock(c2, d)
        self.down_quarter, self.res_quarter = conv3x3(c2, c2, 2), ResBlock(c2, d)
        self.up_half, self.res_up_half = conv3x3(2 * c2, c2), ResBlock(c2, d)
        self.up_full, self.res_up_full = conv3x3(c2 + c, c), ResBlock(c, d)
        self.conv_out = conv3x3(c, cout)

    def forward(self, x, cond):
        full = self.res_full(self.conv_in(x), cond)
        half = self.res_half(self.down_half(F.silu(full)), cond)
        quarter = self.res_quarter(self.down_quarter(F.silu(half)), cond)
        up = F.interpolate(quarter, size=half.shape[2:], mode="nearest")
        up = self.res_up_half(self.up_half(F.silu(torch.cat([up, half], 1))), cond)
        up = F.interpolate(up, size=full.shape[2:], mode="nearest")
        up = self.res_up_full(self.up_full(F.silu(torch.cat([up, full], 1))), cond)
        return self.conv_out(F.silu(up))


class Denoiser(nn.Module):
    def __init__(self, c, d):
        super().__init__()
        self.embed, self.unet = CondEmbedding(d), UNet(1, 1, c, d)

    def loss(self, y, feats, sched):
        z = y * sched["signal"] + torch.randn_like(y) * sched["noise_std"]
        yhat = self.unet(z, self.embed(feats))
        return (y - yhat).pow(2).mean(dim=(1, 2, 3)).mean()


class Cvae(nn.Module):
    def __init__(self, c, d, k):
        super().__init__()
        self.enc_embed = CondEmbedding(d)
        self.enc_conv1, self.enc_cond = conv3x3(2, c), nn.Linear(d, c)
        self.enc_conv2, self.enc_conv3 = conv3x3(c, 2 * c, 2), conv3x3(2 * c, 2 * c, 2)
        self.enc_head = nn.Linear(2 * c * 16, 2 * k)
        self.dec_embed, self.dec_latent = CondEmbedding(d), nn.Linear(k, d)
        self.dec = UNet(1, 2, c, d)
        self.k = k

    def loss(self, y, feats, sched):
        # z_{l-1} from the closed form, then one encoder step to z_l (as train.rs).
        z_prev = y * sched["signal_prev"] + torch.randn_like(y) * sched["noise_std_prev"]
        z_l = z_prev * sched["a"] + torch.randn_like(y) * sched["step_std"]
        # Encoder.
        h = self.enc_conv1(torch.cat([z_prev, z_l], 1))
        h = F.silu(h + self.enc_cond(F.silu(self.enc_embed(feats)))[:, :, None, None])
        h = F.silu(self.enc_conv3(F.silu(self.enc_conv2(h))))
        out = self.enc_head(F.adaptive_avg_pool2d(h, 4).flatten(1))
        mu, logvar = out[:, : self.k], out[:, self.k :].clamp(-14.0, 6.0)
        eps = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        # Decoder.
        cond = self.dec_embed(feats) + self.dec_latent(eps)
        out = self.dec(z_l, cond)
        mean, log_sigma = out[:, 0:1], out[:, 1:2].clamp(-7.0, 2.0)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
        pixels = y.shape[2] * y.shape[3]
        nll = (0.5 * ((z_prev - mean) * (-log_sigma).exp()).pow(2) + log_sigma).sum(dim=(1, 2, 3))
        nll = nll + 0.5 * math.log(2 * math.pi) * pixels
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
    model = Denoiser(a.channels, a.cond_dim) if a.model == "denoiser" else Cvae(a.channels, a.cond_dim, a.latent)
    params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.999), eps=1e-8)

    # Host-side tables indexed by level (0..L), like the per-sample coefficients of train.rs.
    alpha = 0.01 ** (1.0 / L)
    lv = torch.arange(L + 1, dtype=torch.float64)
    signal = (alpha ** lv).float()
    noise_std = (1.0 - alpha ** (2 * lv)).clamp(min=0).sqrt().float()
    feats_table = level_features_table(L)
    images = torch.rand(1000, 1, 28, 28)  # "the dataset", built once

    def step():
        idx = torch.randint(0, images.shape[0], (B,))
        lev = torch.randint(1, L + 1, (B,))
        y = images[idx]
        sched = {
            "signal": signal[lev].view(B, 1, 1, 1), "noise_std": noise_std[lev].view(B, 1, 1, 1),
            "signal_prev": signal[lev - 1].view(B, 1, 1, 1), "noise_std_prev": noise_std[lev - 1].view(B, 1, 1, 1),
            "a": alpha, "step_std": math.sqrt(1 - alpha * alpha),
        }
        loss = model.loss(y, feats_table[lev], sched)
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

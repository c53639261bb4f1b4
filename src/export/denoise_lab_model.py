"""A denoise-lab model in PyTorch, written by `denoise-lab export-torch` beside its weights.

    import sys; sys.path.insert(0, "export")            # the folder export-torch wrote
    import denoise_lab_model as dl
    model, cfg = dl.load("export")                      # model.safetensors + config.json
    z0 = dl.sample(model, cfg, n=16, sampler="stochastic", seed=0)   # [16, 1, H, W], pixels ~ [-1, 1]

The architecture of src/model/{unet,denoiser,cvae}.rs (the same as bench/torch_ref.py), with the
parameter names of the Rust structs. The fixed encoder (docs/math.md): z_l = a z_{l-1} +
sqrt(1 - a^2) noise, so q(z_l | y) = N(a^l y, (1 - a^(2l)) I), l = 1..L; L and a are in config.json.
Samplers (src/sampler.rs): "deterministic" (quiz eq. (2): z_{l-1} = yhat(z_l, l)), "stochastic"
(the posterior mean plus sigma noise, sigma = sqrt(v) by default), "ddim" (eta = 0) for the
denoiser; "cvae" (ancestral sampling through the CVAE steps) for the CVAE.

`python denoise_lab_model.py DIR --check` compares this module with the Rust model on the inputs
saved in DIR/check.safetensors (prints the largest absolute difference).
Needs only torch: the .safetensors reader is below (`safetensors.torch.load_file` gives the same).
"""

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

LEVEL_FEATURES = 32
SIGMA_FLOOR = 0.1  # src/model/cvae.rs: the CVAE decoder's variance is max(v_l, SIGMA_FLOOR^2)


def read_safetensors(path):
    """The tensors of a .safetensors file: 8 bytes of header length, a JSON header, raw data."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, t in header.items():
        start, end = (8 + n + o for o in t["data_offsets"])
        out[name] = torch.frombuffer(bytearray(raw[start:end]), dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out


def level_features(levels, L):
    """[sin(w_k t), cos(w_k t)] for t = l / L, w_k = 2^k pi / 8, k = 0..15 (as unet.rs)."""
    t = levels.to(torch.float64)[:, None] / max(L, 1)
    w = torch.tensor([2.0**k * math.pi / 8 for k in range(LEVEL_FEATURES // 2)], dtype=torch.float64)
    return torch.cat([(t * w).sin(), (t * w).cos()], dim=1).float()


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
        return x + self.conv2(F.silu(h + self.cond(F.silu(cond))[:, :, None, None]))


class UNet(nn.Module):
    """Two scales down (stride-2 convolutions), nearest upsampling, skip connections."""

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
    """yhat(z_l, l): the clean image predicted from a noisy level (quiz eq. (1))."""

    def __init__(self, cfg):
        super().__init__()
        self.L = cfg["levels"]
        self.embed = CondEmbedding(cfg["cond_dim"])
        self.unet = UNet(1, 1, cfg["base_channels"], cfg["cond_dim"])

    def forward(self, z, levels):
        return self.unet(z, self.embed(level_features(levels, self.L)))


class GaussianHead(nn.Module):
    """(mean, ln variance) over the k latent dimensions from images stacked as channels and the level."""

    def __init__(self, images, c, d, k):
        super().__init__()
        self.k = k
        self.embed = CondEmbedding(d)
        self.conv1, self.cond = conv3x3(images, c), nn.Linear(d, c)
        self.conv2, self.conv3 = conv3x3(c, 2 * c, 2), conv3x3(2 * c, 2 * c, 2)
        self.head = nn.Linear(2 * c * 16, 2 * k)

    def forward(self, images, features):
        h = self.conv1(images)
        h = F.silu(h + self.cond(F.silu(self.embed(features)))[:, :, None, None])
        h = F.silu(self.conv3(F.silu(self.conv2(h))))
        out = self.head(F.adaptive_avg_pool2d(h, 4).flatten(1))
        return out[:, : self.k], out[:, self.k :].clamp(-14.0, 6.0)


class Cvae(nn.Module):
    """The progressive CVAE step p(z_{l-1} | z_l, l) with a latent eps ~ N(0, I) of size k.

    The decoder's code is c = mu_pi + sigma_pi * eps, (mu_pi, ln sigma_pi^2) = prior(z_l, l); the
    encoder gives its posterior in eps's coordinates (src/model/cvae.rs, docs/math.md section 3)."""

    def __init__(self, cfg):
        super().__init__()
        c, d, k = cfg["base_channels"], cfg["cond_dim"], cfg["latent_dim"]
        self.L, self.k, self.a = cfg["levels"], k, cfg["a"]
        self.enc = GaussianHead(2, c, d, k)
        self.prior = GaussianHead(1, c, d, k)
        self.dec_embed, self.dec_latent = CondEmbedding(d), nn.Linear(k, d)
        self.dec = UNet(1, 1, c, d)  # predicts yhat; the step's mean is m(z_l, yhat)

    def encode(self, z_prev, z_l, levels):
        """(eps_Psi, ln sigma_Psi^2), each [B, k]."""
        feats = level_features(levels, self.L)
        mu_p, logvar_p = self.prior(z_l, feats)
        mu_q, logvar_q = self.enc(torch.cat([z_prev, z_l], 1), feats)
        return (mu_q - mu_p) * torch.exp(-0.5 * logvar_p), logvar_q - logvar_p

    def decode(self, eps, z_l, levels):
        """z_Phi = m(z_l, yhat_Phi(c, z_l, l)), c = mu_pi + sigma_pi eps: [B, 1, H, W]."""
        feats = level_features(levels, self.L)
        mu_p, logvar_p = self.prior(z_l, feats)
        code = mu_p + torch.exp(0.5 * logvar_p) * eps
        cond = self.dec_embed(feats) + self.dec_latent(code)
        yhat = self.dec(z_l, cond)
        a, l = self.a, levels.to(torch.float64)
        denom = 1 - a ** (2 * l)
        coef_y = (a ** (l - 1) * (1 - a * a) / denom).to(yhat.dtype)[:, None, None, None]
        coef_z = (a * (1 - a ** (2 * l - 2)) / denom).to(yhat.dtype)[:, None, None, None]
        return coef_y * yhat + coef_z * z_l

    def sigma(self, l):
        """sigma_Phi at level l: sqrt(max(v_l, SIGMA_FLOOR^2)), fixed (src/model/cvae.rs)."""
        a = self.a
        v = (1 - a * a) * (1 - a ** (2 * l - 2)) / (1 - a ** (2 * l))
        return math.sqrt(max(v, SIGMA_FLOOR**2))


def load(folder, device="cpu"):
    """(model, config) from the folder written by `denoise-lab export-torch`."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    model = (Denoiser if cfg["model"] == "denoiser" else Cvae)(cfg)
    model.load_state_dict(read_safetensors(os.path.join(folder, "model.safetensors")))
    return model.to(device).eval(), cfg


@torch.no_grad()
def sample(model, cfg, n=16, sampler="stochastic", sigma=None, seed=None, keep_chain=False):
    """Draw n images z_0 from z_L ~ N(0, I): [n, 1, H, W] (with keep_chain, the list z_L..z_0)."""
    a, L = cfg["a"], cfg["levels"]
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    device = next(model.parameters()).device
    randn = lambda *shape: torch.randn(*shape, generator=g).to(device)  # noqa: E731
    z = randn(n, 1, cfg["height"], cfg["width"])
    chain = [z]
    for l in range(L, 0, -1):
        levels = torch.full((n,), l, dtype=torch.int64, device=device)
        if sampler == "cvae":
            mean = model.decode(randn(n, model.k), z, levels)
            z = mean if l == 1 else mean + model.sigma(l) * randn(*z.shape)
        else:
            yhat = model(z, levels)
            if sampler == "deterministic":  # quiz eq. (2)
                z = yhat
            elif sampler == "stochastic":  # the posterior q(z_{l-1} | z_l, y = yhat)
                b, denom = 1 - a * a, 1 - a ** (2 * l)
                coef_y = a ** (l - 1) * b / denom
                coef_z = a * (1 - a ** (2 * l - 2)) / denom
                s = math.sqrt(max(b * (1 - a ** (2 * l - 2)) / denom, 0.0)) if sigma is None else sigma
                z = coef_y * yhat + coef_z * z
                if l > 1 and s > 0:
                    z = z + s * randn(*z.shape)
            elif sampler == "ddim":  # eta = 0: keep the predicted noise direction
                eps = (z - a**l * yhat) / math.sqrt(1 - a ** (2 * l))
                z = a ** (l - 1) * yhat + math.sqrt(max(1 - a ** (2 * l - 2), 0.0)) * eps
            else:
                raise ValueError(f"unknown sampler {sampler!r} (deterministic, stochastic, ddim, cvae)")
        chain.append(z)
    return chain if keep_chain else z


@torch.no_grad()
def check(folder):
    """The largest absolute difference between this module and the Rust model on check.safetensors."""
    model, _ = load(folder)
    t = read_safetensors(os.path.join(folder, "check.safetensors"))
    if isinstance(model, Denoiser):
        pairs = [(model(t["z"], t["levels"]), t["yhat"])]
    else:
        mu, logvar = model.encode(t["z_prev"], t["z_l"], t["levels"])
        mean = model.decode(t["eps"], t["z_l"], t["levels"])
        pairs = [(mu, t["mu"]), (logvar, t["logvar"]), (mean, t["mean"])]
    return max((ours - theirs).abs().max().item() for ours, theirs in pairs)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="Sample from (or --check) an exported denoise-lab model.")
    p.add_argument("folder", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--check", action="store_true", help="compare with the Rust outputs, fail above --tol")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--sampler", default=None, help="default: stochastic (denoiser), cvae (CVAE)")
    p.add_argument("-n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.check:
        diff = check(args.folder)
        print(f"max abs difference PyTorch vs Rust: {diff:.3g} (tolerance {args.tol:g})")
        raise SystemExit(0 if diff < args.tol else 1)
    model, cfg = load(args.folder)
    sampler = args.sampler or ("cvae" if cfg["model"] == "cvae" else "stochastic")
    z0 = sample(model, cfg, n=args.n, sampler=sampler, seed=args.seed)
    print(f"{cfg['model']} (L = {cfg['levels']}, step {cfg['step']}): {args.n} samples with {sampler}, "
          f"shape {list(z0.shape)}, mean {z0.mean():.3f}, std {z0.std():.3f}")

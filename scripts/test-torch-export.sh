#!/usr/bin/env bash
# The PyTorch round trip of `denoise-lab export-torch` (not part of scripts/test.sh: it needs
# PyTorch from PyPI, about 5 GB with the CUDA libraries its wheel pulls). Trains a small denoiser
# and a small CVAE for a few steps, exports each, and checks in PyTorch that the exported module
# with the exported weights computes what the Rust model computes on the inputs saved in
# check.safetensors (largest absolute difference below 1e-4); then samples with every sampler.
#
#   bash scripts/test-torch-export.sh          # uses bench/run's venv (target/bench-venv, or $BENCH_VENV)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BENCH_VENV:-target/bench-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "test-torch-export: python venv $VENV with bench/requirements.txt"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
PY="$VENV/bin/python"

cargo build --locked --bin denoise-lab
BIN="${CARGO_TARGET_DIR:-target}/debug/denoise-lab"
WORK="${CARGO_TARGET_DIR:-target}/torch-export-test"
rm -rf "$WORK"
mkdir -p "$WORK"

for model in denoiser cvae; do
  "$BIN" train --model "$model" -L 10 --channels 8 --batch 16 --steps 30 --checkpoint-every 0 \
    --out "$WORK/$model.ckpt" 2>&1 | tail -n 2
  "$BIN" export-torch --checkpoint "$WORK/$model.ckpt" --out "$WORK/$model"
  echo "== $model: PyTorch against Rust on check.safetensors"
  "$PY" "$WORK/$model/denoise_lab_model.py" "$WORK/$model" --check --tol 1e-4
done

echo "== sampling in PyTorch (the notebook's code)"
"$PY" - "$WORK" <<'EOF'
import sys

sys.path.insert(0, f"{sys.argv[1]}/denoiser")
import denoise_lab_model as dl

for model_dir, samplers in [("denoiser", ["deterministic", "stochastic", "ddim"]), ("cvae", ["cvae"])]:
    model, cfg = dl.load(f"{sys.argv[1]}/{model_dir}")
    for s in samplers:
        chain = dl.sample(model, cfg, n=4, sampler=s, seed=1, keep_chain=True)
        z0 = chain[-1]
        assert len(chain) == cfg["levels"] + 1 and z0.shape == (4, 1, cfg["height"], cfg["width"]), s
        assert z0.isfinite().all(), s
        print(f"{model_dir}/{s}: z_0 mean {z0.mean():+.3f}, std {z0.std():.3f}")
EOF
echo "test-torch-export: OK"

#!/usr/bin/env bash
# Retrain the scenario models that tests/metrics.rs measures and save them in tests/fixtures/
# (about an hour on 2 cores: scenario 4 trains two models for 2000 steps on each of three seeds).
# Run it after changing a scenario preset, the model or the checkpoint format: the tests refuse
# fixtures that no longer match their preset. Each run also prints the scenario's figures
# (docs/scenarios.md's tables are measured on these fixtures by `node scripts/scenario-table.mjs`).
#
#   bash scripts/make-fixtures.sh            # the fixtures, with Flex's SIMD kernels (the default)
#   bash scripts/make-fixtures.sh --no-simd  # scenario 4's three seeds without them, into
#                                            # target/fixtures-no-simd/ (checks that the CVAE's
#                                            # advantage does not hang on the kernels' rounding)
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
out=tests/fixtures
if [ "${1:-}" = "--no-simd" ]; then
  features=(--no-default-features)
  out=target/fixtures-no-simd
fi
run() { cargo run --locked --quiet "${features[@]}" -- scenario "$@" -n 128; }
if [ -z "${features[*]}" ]; then
  run collapse --save "$out"
  # tests/browser/train.test.mjs imports this on WebGPU and on the CPU backend and compares their
  # next steps: the browser suite's small settings (SMALL in tests/browser/helpers.mjs, seed 12),
  # one step, so that the checkpoint carries Adam moments and a training position.
  cargo run --locked --quiet -- train -L 10 --batch 8 --channels 4 --seed 12 --steps 1 -o "$out/small-step1.ckpt"
fi
# Scenario 4 (few-levels) on the preset's seed (3) and two more: tests/metrics.rs asserts the CVAE
# step's advantage on each. The three train at once (a run keeps about one core busy).
pids=()
run few-levels --save "$out" > "$out-seed-3.log" 2>&1 &
pids+=($!)
for seed in 4 5; do
  run few-levels --train-seed "$seed" --save "$out/seed-$seed" > "$out-seed-$seed.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for seed in 3 4 5; do
  echo "== few-levels, seed $seed"
  grep -v '^sampling' "$out-seed-$seed.log"
  rm "$out-seed-$seed.log"
done
ls -lR "$out"

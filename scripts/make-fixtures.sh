#!/usr/bin/env bash
# Retrain the scenario models that tests/metrics.rs measures and save them in tests/fixtures/
# (a few minutes on 2 cores). Run it after changing a scenario preset, the model or the checkpoint
# format: the tests refuse fixtures that no longer match their preset. Each run also prints the
# scenario's figures (README's scenario table comes from the same command without --save).
set -euo pipefail
cd "$(dirname "$0")/.."
for name in collapse few-levels; do
  cargo run --locked --quiet -- scenario "$name" --save tests/fixtures
done
ls -l tests/fixtures

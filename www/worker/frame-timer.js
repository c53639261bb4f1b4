// How fast training runs, and how many steps the next frame should take: the first frame (one
// step, with the shader compilation) is the warm-up; after it, frames aim at TARGET_FRAME_MS so
// the page stays responsive whatever a step costs. Pure: tested by `node --test tests/node/`.

const TARGET_FRAME_MS = 150;
const MAX_STEPS_PER_FRAME = 64;
const RATE_WINDOW_MS = 5000;

export function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export class FrameTimer {
  constructor() {
    this.reset();
  }

  reset() {
    this.warmupMs = null; // the first training frame
    this.frameTimes = []; // recent steady ms per step
    this.stepsPerFrame = 1;
    this.rateWindow = []; // [time, step] pairs for steps/s
  }

  /** Steps for the next frame: one until the warm-up is measured. */
  nextSteps() {
    return this.warmupMs == null ? 1 : this.stepsPerFrame;
  }

  /**
   * A frame of `k` steps took `ms` and ended at training step `step` (wall clock `now`).
   * Returns the figures the page shows: msPerStep (median of steady frames), stepsPerSec (over
   * the last few seconds), warmupMs.
   */
  record(k, ms, step, now) {
    if (this.warmupMs == null) {
      this.warmupMs = ms;
    } else {
      this.frameTimes.push(ms / k);
      if (this.frameTimes.length > 30) this.frameTimes.shift();
      const per = median(this.frameTimes.slice(-8));
      this.stepsPerFrame = Math.max(1, Math.min(MAX_STEPS_PER_FRAME, Math.round(TARGET_FRAME_MS / Math.max(per, 0.01))));
    }
    const w = this.rateWindow;
    w.push([now, step]);
    while (w.length > 2 && now - w[0][0] > RATE_WINDOW_MS) w.shift();
    let stepsPerSec = null;
    if (w.length >= 2) {
      const [t1, s1] = w[0];
      const [t2, s2] = w[w.length - 1];
      if (t2 > t1) stepsPerSec = ((s2 - s1) * 1000) / (t2 - t1);
    }
    return { msPerStep: median(this.frameTimes), stepsPerSec, warmupMs: this.warmupMs };
  }
}

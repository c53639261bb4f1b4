// The denoiser and the CVAE step of src/model/{unet,denoiser,cvae}.rs written with TensorFlow.js
// ops and tf.variables, and the training step of src/train.rs (Adam + global-norm clipping).
// `tf` is the global set by the UMD bundles that index.html loads.
//
// Layout is NHWC (tfjs's native conv layout; NCHW convs are not supported on every backend).
// Weights: PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): this benchmark measures
// speed, any reasonable init will do.

const tf = globalThis.tf;
export const LEVEL_FEATURES = 32;

/** Sinusoidal features of t = l / L, as `level_features` in unet.rs (built on the host). */
export function levelFeatures(levels, maxLevel) {
  const half = LEVEL_FEATURES / 2;
  const out = new Float32Array(levels.length * LEVEL_FEATURES);
  levels.forEach((l, i) => {
    const t = l / Math.max(maxLevel, 1);
    for (let k = 0; k < half; k++) {
      const w = (2 ** k * Math.PI) / 2 / 4;
      out[i * LEVEL_FEATURES + k] = Math.sin(w * t);
      out[i * LEVEL_FEATURES + half + k] = Math.cos(w * t);
    }
  });
  return out;
}

// ---- FLOP tally: matmul/conv FLOPs of forward + backward, counted like torch's FlopCounterMode
// (2 per multiply-add; backward = weight grad + input grad, the latter only when the input is
// not a leaf such as z or the level features). Active only while `tally` is set.
let tally = null;
function count(macs, leafInput) {
  if (tally) tally.flops += 2 * macs * (leafInput ? 2 : 3);
}

// ---- The wasm backend of tfjs 4.22 has no Conv2DBackpropFilter kernel, so tf.conv2d cannot be
// trained there. On wasm the filter gradient is computed with the standard identity instead:
// dW = (dilated) conv2d of the padded input with dy, batch and channels swapped (checked against
// the cpu backend's gradient; a few ms per conv here). The input gradient is tfjs's own
// Conv2DBackpropInput kernel, as in tf.conv2d's gradient.
function filterGrad(x, dy, stride) {
  const xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const xt = tf.transpose(xp, [3, 1, 2, 0]); // [ci, Hp, Wp, B]: "batch" = ci, "channels" = B
  const f = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, B, co] as a filter
  const g = tf.conv2d(xt, f, 1, 'valid', 'NHWC', stride); // [ci, 3 or 4, 3 or 4, co]
  return tf.transpose(tf.slice(g, [0, 0, 0, 0], [-1, 3, 3, -1]), [1, 2, 0, 3]);
}
const convWithFilterGrad = [1, 2].map((stride) =>
  tf.customGrad((x, w, b, save) => {
    save([x, w]);
    return {
      value: tf.fused.conv2d({ x, filter: w, bias: b, strides: stride, pad: 1 }),
      gradFunc: (dy, [xs, ws]) => [
        tf.conv2dTranspose(dy, ws, xs.shape, stride, 1),
        filterGrad(xs, dy, stride),
        tf.sum(dy, [0, 1, 2]),
      ],
    };
  }),
);

/** The trainable parameters and the layers built from them. */
class Params {
  constructor() {
    this.vars = [];
  }
  uniform(shape, fanIn) {
    const bound = 1 / Math.sqrt(fanIn);
    const v = tf.variable(tf.randomUniform(shape, -bound, bound));
    this.vars.push(v);
    return v;
  }
  conv(cin, cout, stride = 1) {
    return { w: this.uniform([3, 3, cin, cout], 9 * cin), b: this.uniform([cout], 9 * cin), stride };
  }
  linear(din, dout) {
    return { w: this.uniform([din, dout], din), b: this.uniform([dout], din) };
  }
  count() {
    return this.vars.reduce((s, v) => s + v.size, 0);
  }
}

// 3x3, padding 1, with bias. `leaf`: the input needs no gradient (only for the FLOP tally).
function conv(x, p, leaf = false) {
  const [n, h, w, cin] = x.shape;
  const [ho, wo] = [Math.floor((h - 1) / p.stride) + 1, Math.floor((w - 1) / p.stride) + 1];
  count(n * ho * wo * 9 * cin * p.w.shape[3], leaf);
  if (tf.getBackend() === 'wasm') return convWithFilterGrad[p.stride - 1](x, p.w, p.b);
  return tf.fused.conv2d({ x, filter: p.w, bias: p.b, strides: p.stride, pad: 1 });
}
function linear(x, p, leaf = false) {
  count(x.shape[0] * p.w.shape[0] * p.w.shape[1], leaf);
  return tf.fused.matMul({ a: x, b: p.w, bias: p.b });
}
const silu = (x) => tf.mul(x, tf.sigmoid(x));
const upsampleLike = (x, like) => tf.image.resizeNearestNeighbor(x, [like.shape[1], like.shape[2]]);

function condEmbedding(P, d) {
  const fc1 = P.linear(LEVEL_FEATURES, d);
  const fc2 = P.linear(d, d);
  return (features) => linear(silu(linear(features, fc1, true)), fc2);
}

// x + conv2(silu(conv1(silu(x)) + bias(cond)))
function resBlock(P, ch, d) {
  const conv1 = P.conv(ch, ch);
  const cond = P.linear(d, ch);
  const conv2 = P.conv(ch, ch);
  return (x, c) => {
    const h = conv(silu(x), conv1);
    const bias = tf.reshape(linear(silu(c), cond), [x.shape[0], 1, 1, ch]);
    return tf.add(x, conv(silu(tf.add(h, bias)), conv2));
  };
}

function unet(P, cin, cout, c, d) {
  const c2 = 2 * c;
  const L = {
    convIn: P.conv(cin, c), resFull: resBlock(P, c, d),
    downHalf: P.conv(c, c2, 2), resHalf: resBlock(P, c2, d),
    downQuarter: P.conv(c2, c2, 2), resQuarter: resBlock(P, c2, d),
    upHalf: P.conv(2 * c2, c2), resUpHalf: resBlock(P, c2, d),
    upFull: P.conv(c2 + c, c), resUpFull: resBlock(P, c, d),
    convOut: P.conv(c, cout),
  };
  return (x, cond) => {
    const full = L.resFull(conv(x, L.convIn, true), cond);
    const half = L.resHalf(conv(silu(full), L.downHalf), cond);
    const quarter = L.resQuarter(conv(silu(half), L.downQuarter), cond);
    let up = conv(silu(tf.concat([upsampleLike(quarter, half), half], 3)), L.upHalf);
    up = L.resUpHalf(up, cond);
    up = conv(silu(tf.concat([upsampleLike(up, full), full], 3)), L.upFull);
    up = L.resUpFull(up, cond);
    return conv(silu(up), L.convOut);
  };
}

/** adaptive_avg_pool2d 7x7 -> 4x4 as a constant [16, 49] matrix: PyTorch's (and burn's) bins
 * [floor(i*7/4), ceil((i+1)*7/4)) overlap (sizes 2,3,3,2), so no fixed avgPool window fits. */
function adaptivePoolMatrix(n, m) {
  const bins = [...Array(m).keys()].map((i) => [Math.floor((i * n) / m), Math.ceil(((i + 1) * n) / m)]);
  const p = new Float32Array(m * m * n * n);
  bins.forEach(([r0, r1], i) => bins.forEach(([c0, c1], j) => {
    for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) p[(i * m + j) * n * n + r * n + c] = 1 / ((r1 - r0) * (c1 - c0));
  }));
  return tf.tensor3d(p, [1, m * m, n * n]);
}

/**
 * Builds a model: returns { vars, params, loss(y, feats, coef), forward } where `loss` gives the scalar
 * training loss. coef: per-sample [B,1,1,1] tensors (signal, noise_std, signal_prev,
 * noise_std_prev) and scalars a, stepStd.
 */
export function buildModel({ model, channels: c, condDim: d = 64, latent: k = 32 }) {
  return tf.tidy(() => {
    const P = new Params();
    let loss, forward = null;
    if (model === 'denoiser') {
      const embed = condEmbedding(P, d);
      const net = unet(P, 1, 1, c, d);
      loss = (y, feats, s) => {
        const z = tf.add(tf.mul(y, s.signal), tf.mul(tf.randomNormal(y.shape), s.noiseStd));
        return tf.mean(tf.squaredDifference(y, net(z, embed(feats))));
      };
      forward = (z, feats) => net(z, embed(feats));
    } else {
      const encEmbed = condEmbedding(P, d);
      const enc1 = P.conv(2, c), encCond = P.linear(d, c);
      const enc2 = P.conv(c, 2 * c, 2), enc3 = P.conv(2 * c, 2 * c, 2);
      const head = P.linear(2 * c * 16, 2 * k);
      const decEmbed = condEmbedding(P, d), decLatent = P.linear(k, d);
      const dec = unet(P, 1, 2, c, d);
      const pool = tf.keep(adaptivePoolMatrix(7, 4));
      loss = (y, feats, s) => {
        const b = y.shape[0];
        const zPrev = tf.add(tf.mul(y, s.signalPrev), tf.mul(tf.randomNormal(y.shape), s.noiseStdPrev));
        const zL = tf.add(tf.mul(zPrev, s.a), tf.mul(tf.randomNormal(y.shape), s.stepStd));
        // Encoder.
        let h = conv(tf.concat([zPrev, zL], 3), enc1, true);
        h = silu(tf.add(h, tf.reshape(linear(silu(encEmbed(feats)), encCond), [b, 1, 1, c])));
        h = silu(conv(silu(conv(h, enc2)), enc3)); // [B, 7, 7, 2C]
        const pooled = tf.matMul(pool, tf.reshape(h, [b, 49, 2 * c])); // [B, 16, 2C]
        const out = linear(tf.reshape(pooled, [b, 16 * 2 * c]), head);
        const mu = tf.slice(out, [0, 0], [b, k]);
        const logvar = tf.clipByValue(tf.slice(out, [0, k], [b, k]), -14, 6);
        const eps = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), tf.randomNormal(mu.shape)));
        // Decoder.
        const o = dec(zL, tf.add(decEmbed(feats), linear(eps, decLatent)));
        const mean = tf.slice(o, [0, 0, 0, 0], [-1, -1, -1, 1]);
        const logSigma = tf.clipByValue(tf.slice(o, [0, 0, 0, 1], [-1, -1, -1, 1]), -7, 2);
        const kl = tf.mul(tf.sum(tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logvar)), logvar), 1), 1), 0.5);
        const sq = tf.mul(tf.square(tf.mul(tf.sub(zPrev, mean), tf.exp(tf.neg(logSigma)))), 0.5);
        const nll = tf.add(tf.sum(tf.add(sq, logSigma), [1, 2, 3]), 0.5 * Math.log(2 * Math.PI) * 28 * 28);
        return tf.mean(tf.add(kl, nll));
      };
    }
    return { vars: P.vars, params: P.count(), loss, forward };
  });
}

/**
 * A trainer with the data, schedule and optimiser of src/train.rs. `step()` queues one training
 * step and returns its loss (a scalar tensor the caller disposes); nothing is read back.
 */
export function makeTrainer({ model, channels, batch, levels, condDim = 64, latent = 32, lr = 2e-3, clipNorm = 1.0, nImages = 1000 }) {
  const m = buildModel({ model, channels, condDim, latent });
  const optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  const a = 0.01 ** (1 / levels);
  const signal = (l) => a ** l;
  const noiseStd = (l) => Math.sqrt(Math.max(0, 1 - a ** (2 * l)));
  const images = tf.randomUniform([nImages, 28, 28, 1]); // "the dataset", on the device once

  function step() {
    // Host side, as train.rs: batch indices, levels, their features and coefficients.
    const idx = Int32Array.from({ length: batch }, () => Math.floor(Math.random() * nImages));
    const lv = Array.from({ length: batch }, () => 1 + Math.floor(Math.random() * levels));
    const perLevel = (f) => tf.tensor4d(Float32Array.from(lv, f), [batch, 1, 1, 1]);
    return tf.tidy(() => {
      const y = tf.gather(images, tf.tensor1d(idx, 'int32'));
      const feats = tf.tensor2d(levelFeatures(lv, levels), [batch, LEVEL_FEATURES]);
      const s = model === 'denoiser'
        ? { signal: perLevel(signal), noiseStd: perLevel(noiseStd) }
        : { signalPrev: perLevel((l) => signal(l - 1)), noiseStdPrev: perLevel((l) => noiseStd(l - 1)), a, stepStd: Math.sqrt(1 - a * a) };
      const { value, grads } = tf.variableGrads(() => m.loss(y, feats, s), m.vars);
      // Global-norm clipping as clip_grad_norm_ / src/optim.rs: scale = min(1, c / (||g|| + 1e-6)),
      // kept on the device (no readback).
      const names = Object.keys(grads);
      const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
      const scale = tf.minimum(1, tf.div(clipNorm, tf.add(norm, 1e-6)));
      optimizer.applyGradients(Object.fromEntries(names.map((n) => [n, tf.mul(grads[n], scale)])));
      return value;
    });
  }

  /** The FLOPs of one step (see `count`); runs one real training step. */
  function countFlops() {
    tally = { flops: 0 };
    try {
      step().dispose();
      return tally.flops;
    } finally {
      tally = null;
    }
  }

  /**
   * The denoiser's U-Net forward (with its level embedding) `n` times, each one's output the next
   * one's input (as a sampler chains its levels); returns the last output (the caller disposes).
   * For counting GPU commands per forward.
   */
  function forwards(n) {
    const lv = Array.from({ length: batch }, () => 1 + Math.floor(Math.random() * levels));
    return tf.tidy(() => {
      const feats = tf.tensor2d(levelFeatures(lv, levels), [batch, LEVEL_FEATURES]);
      let z = tf.randomUniform([batch, 28, 28, 1]);
      for (let i = 0; i < n; i++) z = m.forward(z, feats);
      return z;
    });
  }

  return { step, countFlops, params: m.params, forwards: m.forward ? forwards : null };
}

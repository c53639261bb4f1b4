// The denoiser and the CVAE step of src/model/{unet,denoiser,cvae}.rs in jax-js (@jax-js/jax), and
// the training step of src/train.rs (Adam 2e-3, betas 0.9/0.999, eps 1e-8, global-norm clipping
// at 1.0), the WHOLE step (batch gather, noise, forward, backward, clipping, Adam) in one `jit`.
// The architecture is that of src/export/denoise_lab_model.py (the PyTorch copy bench/torch_ref.py
// imports); bench/tfjs/model.mjs documents the same layers.
//
// Where jax-js forced (or allowed) a difference, and how it was handled:
// - Layout: NCHW with [C_out, C_in, 3, 3] kernels, like ours and PyTorch
//   (lax.convGeneralDilated's layout); no difference. The CVAE head flattens [B, 2C, 4, 4]
//   channel-major, as PyTorch's flatten(1) (tfjs, NHWC, flattens spatial-major).
// - Nearest upsampling (F.interpolate / burn's interpolate to the skip's size): jax-js has no
//   resize op. Every upsampling here doubles exactly (7 -> 14, 14 -> 28), so it is a reshape to
//   [B, C, H, 1, W, 1], a broadcast to [B, C, H, 2, W, 2] and a reshape (asserted).
// - adaptive_avg_pool2d 7x7 -> 4x4: no adaptive pooling in jax-js (and PyTorch's bins overlap, so
//   no fixed window fits): a matmul with a constant [49, 16] averaging matrix, as the tfjs peer.
// - Adam + clipping: @jax-js/optax is not on the npm registry (404, checked for this bench), so
//   Adam and clip-by-global-norm are written out below (the formulas of src/optim.rs), inside
//   the same jit as the gradient.
// - Randomness: the step's normal noise (z_l, and for the CVAE z_{l-1}, z_l and the
//   reparameterisation draw) is drawn on the device inside the jit from a PRNG key the step
//   threads through, as the tfjs and PyTorch peers draw it on their device; our trainer draws it
//   on the CPU and uploads it (src/train.rs), so ours has more buffer writes per step for that.
// - The batch's host data (image indices, level features, per-sample coefficients) are two
//   uploads per step: an int32 index vector and one float32 [B, 32 + 5] table (features and
//   coefficients packed; the tfjs peer uploads each separately).
// - Memory: jax-js counts references (every op consumes its array arguments; `.ref` adds one).
//   The traced functions follow that rule, the jitted step consumes the old state and returns
//   the new one.
// - Init: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, drawn on
//   the host (this bench measures speed).

import { jit, lax, nn, numpy as np, random, tree, valueAndGrad } from '../node_modules/@jax-js/jax/dist/index.js';

export const LEVEL_FEATURES = 32;
const COEFS = 5; // per-sample coefficients after the features (see `hostBatch`)

/** Sinusoidal features of t = l / L (as `level_features` in unet.rs), written into `out`. */
function levelFeaturesInto(out, stride, levels, maxLevel) {
  const half = LEVEL_FEATURES / 2;
  levels.forEach((l, i) => {
    const t = l / Math.max(maxLevel, 1);
    for (let k = 0; k < half; k++) {
      const w = (2 ** k * Math.PI) / 8;
      out[i * stride + k] = Math.sin(w * t);
      out[i * stride + half + k] = Math.cos(w * t);
    }
  });
}

// ---- Parameters (built on the host) ----
class Init {
  constructor() {
    this.count = 0;
  }
  uniform(shape, fanIn) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const buf = new Float32Array(n);
    for (let i = 0; i < n; i++) buf[i] = (2 * Math.random() - 1) * bound;
    this.count += n;
    return np.array(buf, { shape });
  }
  conv(cin, cout) {
    return { w: this.uniform([cout, cin, 3, 3], 9 * cin), b: this.uniform([cout], 9 * cin) };
  }
  linear(din, dout) {
    return { w: this.uniform([din, dout], din), b: this.uniform([dout], din) };
  }
  embed(d) {
    return { fc1: this.linear(LEVEL_FEATURES, d), fc2: this.linear(d, d) };
  }
  res(ch, d) {
    return { conv1: this.conv(ch, ch), cond: this.linear(d, ch), conv2: this.conv(ch, ch) };
  }
  unet(cin, cout, c, d) {
    const c2 = 2 * c;
    return {
      convIn: this.conv(cin, c), resFull: this.res(c, d),
      downHalf: this.conv(c, c2), resHalf: this.res(c2, d),
      downQuarter: this.conv(c2, c2), resQuarter: this.res(c2, d),
      upHalf: this.conv(2 * c2, c2), resUpHalf: this.res(c2, d),
      upFull: this.conv(c2 + c, c), resUpFull: this.res(c, d),
      convOut: this.conv(c, cout),
    };
  }
}

// ---- Layers. Every function consumes its array arguments (jax-js ownership), `p` included:
// each parameter leaf is used exactly once per forward.

/** 3x3 convolution, padding 1, with bias. */
function conv(x, p, stride = 1) {
  return lax.convGeneralDilated(x, p.w, [stride, stride], [[1, 1], [1, 1]]).add(p.b.reshape([1, -1, 1, 1]));
}
const linear = (x, p) => np.matmul(x, p.w).add(p.b);
const silu = (x) => nn.silu(x);

/** Nearest upsampling by exactly 2 (F.interpolate to the skip's size, which is twice here). */
function upsample2(x, like) {
  const [n, c, h, w] = x.shape;
  if (like.shape[2] !== 2 * h || like.shape[3] !== 2 * w) throw new Error(`upsampling ${h}x${w} to ${like.shape[2]}x${like.shape[3]}: only x2 is written`);
  return np.broadcastTo(x.reshape([n, c, h, 1, w, 1]), [n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w]);
}

const embed = (p, f) => linear(silu(linear(f, p.fc1)), p.fc2);

/** x + conv2(silu(conv1(silu(x)) + bias(cond))). */
function resBlock(p, x, cond) {
  const [b, ch] = x.shape;
  const h = conv(silu(x.ref), p.conv1);
  const bias = linear(silu(cond), p.cond).reshape([b, ch, 1, 1]);
  return x.add(conv(silu(h.add(bias)), p.conv2));
}

function unet(p, x, cond) {
  const full = resBlock(p.resFull, conv(x, p.convIn), cond.ref);
  const half = resBlock(p.resHalf, conv(silu(full.ref), p.downHalf, 2), cond.ref);
  const quarter = resBlock(p.resQuarter, conv(silu(half.ref), p.downQuarter, 2), cond.ref);
  let up = upsample2(quarter, half);
  up = resBlock(p.resUpHalf, conv(silu(np.concatenate([up, half], 1)), p.upHalf), cond.ref);
  up = upsample2(up, full);
  up = resBlock(p.resUpFull, conv(silu(np.concatenate([up, full], 1)), p.upFull), cond);
  return conv(silu(up), p.convOut);
}

/** adaptive_avg_pool2d n x n -> m x m as a [n*n, m*m] matrix (PyTorch's overlapping bins). */
function adaptivePoolMatrix(n, m) {
  const bins = [...Array(m).keys()].map((i) => [Math.floor((i * n) / m), Math.ceil(((i + 1) * n) / m)]);
  const p = new Float32Array(n * n * m * m);
  bins.forEach(([r0, r1], i) => bins.forEach(([c0, c1], j) => {
    for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) p[(r * n + c) * m * m + i * m + j] = 1 / ((r1 - r0) * (c1 - c0));
  }));
  return np.array(p, { shape: [n * n, m * m] });
}

/** Column `i` of the [B, 32 + COEFS] host table as [B, 1, 1, 1]. */
const coefCol = (tab, i) => tab.slice([], [LEVEL_FEATURES + i, LEVEL_FEATURES + i + 1]).reshape([-1, 1, 1, 1]);

/**
 * Builds a model: { params (a tree of arrays), paramCount, loss(params, y, tab, key, consts),
 * forward(params, z, feats) (the denoiser's U-Net forward with its embedding) }.
 */
export function buildModel({ model, channels: c, condDim: d = 64, latent: k = 32, levels }) {
  const I = new Init();
  const pixels = 28 * 28;
  if (model === 'denoiser') {
    const params = { embed: I.embed(d), unet: I.unet(1, 1, c, d) };
    // tab columns after the features: signal(l), noise_std(l).
    const loss = (p, y, tab, key) => {
      const shape = y.shape;
      const z = y.ref.mul(coefCol(tab.ref, 0)).add(random.normal(key, shape).mul(coefCol(tab.ref, 1)));
      const feats = tab.slice([], [0, LEVEL_FEATURES]);
      const out = unet(p.unet, z, embed(p.embed, feats));
      return np.square(y.sub(out)).mean();
    };
    const forward = (p, z, feats) => unet(p.unet, z, embed(p.embed, feats));
    return { params, paramCount: I.count, loss, forward, consts: () => ({}) };
  }
  const head = (images) => ({
    embed: I.embed(d), conv1: I.conv(images, c), cond: I.linear(d, c),
    conv2: I.conv(c, 2 * c), conv3: I.conv(2 * c, 2 * c), head: I.linear(2 * c * 16, 2 * k),
  });
  const params = {
    enc: head(2), prior: head(1),
    decEmbed: I.embed(d), decLatent: I.linear(k, d), dec: I.unet(1, 1, c, d),
  };
  const a = 0.01 ** (1 / levels);
  const stepStd = Math.sqrt(1 - a * a);
  // A Gaussian over the latent from images and the level: [mu, logvar] (cvae.rs GaussianHead).
  const gaussian = (q, images, feats, pool, b) => {
    let h = conv(images, q.conv1);
    h = silu(h.add(linear(silu(embed(q.embed, feats)), q.cond).reshape([b, c, 1, 1])));
    h = silu(conv(silu(conv(h, q.conv2, 2)), q.conv3, 2)); // [B, 2C, 7, 7]
    const pooled = np.matmul(h.reshape([b * 2 * c, 49]), pool).reshape([b, 2 * c * 16]);
    const out = linear(pooled, q.head);
    return [out.ref.slice([], [0, k]), np.clip(out.slice([], [k, 2 * k]), -14, 6)];
  };
  // tab columns after the features: signal(l-1), noise_std(l-1), coef_y(l), coef_z(l), log sigma(l).
  const loss = (p, y, tab, key, consts) => {
    const shape = y.shape;
    const b = shape[0];
    const [k1, k2, k3] = random.split(key, 3);
    const zPrev = y.mul(coefCol(tab.ref, 0)).add(random.normal(k1, shape).mul(coefCol(tab.ref, 1)));
    const zL = zPrev.ref.mul(a).add(random.normal(k2, shape).mul(stepStd));
    const feats = tab.ref.slice([], [0, LEVEL_FEATURES]);
    // Where z_l places the latent, then the encoder in eps's coordinates.
    const [muP, logvarP] = gaussian(p.prior, zL.ref, feats.ref, consts.pool.ref, b);
    const [muQ, logvarQ] = gaussian(p.enc, np.concatenate([zPrev.ref, zL.ref], 1), feats.ref, consts.pool, b);
    const mu = muQ.sub(muP.ref).mul(np.exp(logvarP.ref.mul(-0.5)));
    const logvar = logvarQ.sub(logvarP.ref);
    const eps = mu.ref.add(np.exp(logvar.ref.mul(0.5)).mul(random.normal(k3, [b, k])));
    const code = muP.add(np.exp(logvarP.mul(0.5)).mul(eps));
    // Decoder: the step's mean m(z_l, yhat) = coef_y * yhat + coef_z * z_l; sigma fixed per level.
    const cond = embed(p.decEmbed, feats).add(linear(code, p.decLatent));
    const yhat = unet(p.dec, zL.ref, cond);
    const mean = yhat.mul(coefCol(tab.ref, 2)).add(zL.mul(coefCol(tab.ref, 3)));
    const logSigma = coefCol(tab, 4);
    const kl = np.square(mu).add(np.exp(logvar.ref)).sub(logvar).sub(1).sum(1).mul(0.5);
    const sq = np.square(zPrev.sub(mean).mul(np.exp(logSigma.ref.neg()))).mul(0.5);
    const nll = sq.sum([1, 2, 3]).add(logSigma.reshape([b]).mul(pixels)).add(0.5 * Math.log(2 * Math.PI) * pixels);
    return kl.add(nll).mean();
  };
  return { params, paramCount: I.count, loss, forward: null, consts: () => ({ pool: adaptivePoolMatrix(7, 4) }) };
}

/**
 * A trainer with the data, schedule and optimiser of src/train.rs. `step()` queues one jitted
 * training step and returns its loss (an array the caller disposes); nothing is read back.
 */
export function makeTrainer({ model, channels, batch, levels, condDim = 64, latent = 32, lr = 2e-3, clipNorm = 1.0, nImages = 1000, seed = 1 }) {
  const m = buildModel({ model, channels, condDim, latent, levels });
  const [b1, b2, epsAdam] = [0.9, 0.999, 1e-8];
  const a = 0.01 ** (1 / levels);
  const signal = (l) => a ** l;
  const noiseStd = (l) => Math.sqrt(Math.max(0, 1 - a ** (2 * l)));
  const posterior = (l) => {
    const denom = 1 - a ** (2 * l);
    return { coefY: (a ** (l - 1) * (1 - a * a)) / denom, coefZ: (a * (1 - a ** (2 * l - 2))) / denom, v: ((1 - a * a) * (1 - a ** (2 * l - 2))) / denom };
  };
  const imgBuf = new Float32Array(nImages * 28 * 28);
  for (let i = 0; i < imgBuf.length; i++) imgBuf[i] = Math.random();
  const images = np.array(imgBuf, { shape: [nImages, 1, 28, 28] }); // "the dataset", on the device once
  const consts = m.consts();
  const zeros = () => tree.map((p) => np.zerosLike(p.ref), m.params);
  let state = { params: m.params, m: zeros(), v: zeros(), t: np.array(0), key: random.key(seed) };

  // One whole training step, traced once per shape and replayed: consumes the old state.
  const trainStep = jit((st, imgs, idx, tab, cs) => {
    const [kLoss, kNext] = random.split(st.key, 2);
    const y = np.take(imgs, idx, 0); // [B, 1, 28, 28]
    const [loss, grads] = valueAndGrad(m.loss)(tree.ref(st.params), y, tab, kLoss, cs);
    const [pl, def] = tree.flatten(st.params);
    const gl = tree.leaves(grads), ml = tree.leaves(st.m), vl = tree.leaves(st.v);
    // Global-norm clipping (clip_grad_norm_ / src/optim.rs): scale = min(1, c / (||g|| + 1e-6)).
    const norm = np.sqrt(gl.map((g) => np.square(g.ref).sum()).reduce((x, y2) => x.add(y2)));
    const scale = np.minimum(np.divide(clipNorm, norm.add(1e-6)), 1);
    const t = st.t.add(1);
    const bias1 = np.exp(t.ref.mul(Math.log(b1))).neg().add(1); // 1 - b1^t
    const bias2 = np.exp(t.ref.mul(Math.log(b2))).neg().add(1);
    const np1 = [], nm = [], nv = [];
    for (let i = 0; i < pl.length; i++) {
      const g = gl[i].mul(scale.ref);
      const mi = ml[i].mul(b1).add(g.ref.mul(1 - b1));
      const vi = vl[i].mul(b2).add(np.square(g).mul(1 - b2));
      const update = mi.ref.div(bias1.ref).div(np.sqrt(vi.ref.div(bias2.ref)).add(epsAdam));
      np1.push(pl[i].sub(update.mul(lr)));
      nm.push(mi);
      nv.push(vi);
    }
    scale.dispose();
    bias1.dispose();
    bias2.dispose();
    const un = (xs) => tree.unflatten(def, xs);
    return { state: { params: un(np1), m: un(nm), v: un(nv), t, key: kNext }, loss };
  });

  /** Host side, as train.rs: batch indices, levels, their features and coefficients. */
  function hostBatch() {
    const idx = Int32Array.from({ length: batch }, () => Math.floor(Math.random() * nImages));
    const lv = Array.from({ length: batch }, () => 1 + Math.floor(Math.random() * levels));
    const stride = LEVEL_FEATURES + COEFS;
    const tab = new Float32Array(batch * stride);
    levelFeaturesInto(tab, stride, lv, levels);
    lv.forEach((l, i) => {
      const o = i * stride + LEVEL_FEATURES;
      if (model === 'denoiser') {
        tab[o] = signal(l);
        tab[o + 1] = noiseStd(l);
      } else {
        const p = posterior(l);
        tab[o] = signal(l - 1);
        tab[o + 1] = noiseStd(l - 1);
        tab[o + 2] = p.coefY;
        tab[o + 3] = p.coefZ;
        tab[o + 4] = 0.5 * Math.log(Math.max(p.v, 0.1 * 0.1)); // SIGMA_FLOOR = 0.1
      }
    });
    return { idx: np.array(idx, { dtype: np.int32, shape: [batch] }), tab: np.array(tab, { shape: [batch, stride] }) };
  }

  function step() {
    const { idx, tab } = hostBatch();
    const out = trainStep(state, images.ref, idx, tab, tree.ref(consts));
    state = out.state;
    return out.loss;
  }

  // The denoiser's U-Net forward (with its level embedding) alone, jitted: the unit that
  // sampling repeats once per level. `forwards(n)` chains n of them, each one's output the next
  // one's input, as a sampler's levels are chained (jax-js is lazy: an output disposed unread is
  // never computed, so independent forwards could not be counted). Returns the last output.
  const forwardJit = m.forward && jit((p, z, feats) => m.forward(p, z, feats));
  function forwards(n) {
    if (!forwardJit) throw new Error('forward: denoiser only');
    const zb = new Float32Array(batch * 28 * 28);
    for (let i = 0; i < zb.length; i++) zb[i] = Math.random();
    const fb = new Float32Array(batch * LEVEL_FEATURES);
    levelFeaturesInto(fb, LEVEL_FEATURES, Array.from({ length: batch }, () => 1 + Math.floor(Math.random() * levels)), levels);
    let z = np.array(zb, { shape: [batch, 1, 28, 28] });
    const feats = np.array(fb, { shape: [batch, LEVEL_FEATURES] });
    for (let i = 0; i < n; i++) z = forwardJit(tree.ref(state.params), z, feats.ref);
    feats.dispose();
    return z;
  }

  return { step, forwards: m.forward ? forwards : null, params: m.paramCount };
}

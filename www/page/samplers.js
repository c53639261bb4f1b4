// What the page says about each sampler: title, formula and caption (which samplers apply to
// which model comes from the core: SAMPLERS_BY_MODEL in www/shared/limits.js and the session's own list
// of sampler specs), and the colours that tie a sampler's grid, curves, bars and metrics row
// together. A spec is `[model/]sampler` as the core names it: "ddim", "universal/exact".

import { SAMPLERS_BY_MODEL } from '../shared/limits.js';

export const SAMPLERS = {
  deterministic: {
    title: 'Eq. (2): the deterministic decoder',
    formula: 'z<sub>ℓ−1</sub> = ŷ(z<sub>ℓ</sub>, ℓ)',
    caption:
      'Each row starts from a different noise z<sub>L</sub>. <b>Quiz (a)–(b):</b> a perfect denoiser maps every z<sub>L</sub> to the mean image, so after one step all rows are (almost) the same picture and the diversity collapses. <b>Quiz (c):</b> the real network is not perfect; tiny differences survive and get amplified down the chain — look for rows that slowly drift apart.',
  },
  stochastic: {
    title: 'Stochastic sampler (current diffusion models)',
    formula: 'z<sub>ℓ−1</sub> = m(z<sub>ℓ</sub>, ŷ) + σ δ',
    caption:
      'The posterior mean plus fresh noise δ at every step (σ = √v by default, change it under Sampling). The injected noise keeps the rows different. With σ = 0 it becomes deterministic again — try it.',
  },
  ddim: {
    title: 'DDIM (η = 0): deterministic, not collapsing',
    formula: 'z<sub>ℓ−1</sub> = a<sup>ℓ−1</sup> ŷ + √(1 − a<sup>2(ℓ−1)</sup>) ε̂',
    caption:
      'Also deterministic, but it keeps the noise direction ε̂ = (z<sub>ℓ</sub> − a<sup>ℓ</sup> ŷ)/√(1 − a<sup>2ℓ</sup>) instead of throwing it away, so every z<sub>L</sub> leads to its own digit.',
  },
  cvae: {
    title: 'Progressive CVAE (Problem 2)',
    formula: 'z<sub>ℓ−1</sub> = z<sub>Φ</sub>(ε, z<sub>ℓ</sub>, ℓ) + σ<sub>Φ</sub> ⊙ δ,  ε ~ N(0, I)',
    caption:
      'Each step is a small conditional VAE with a latent ε of size k. With few levels (L = 2…8) the true step p(z<sub>ℓ−1</sub> | z<sub>ℓ</sub>) is far from Gaussian: a Gaussian step (the stochastic sampler) gives blurry or broken digits, the CVAE can still give sharp, diverse ones. The last step shows the mean z<sub>Φ</sub>.',
  },
};

/** The universal denoiser Φ*'s samplers: the same formulas with ŷ* in place of the network. */
const UNIVERSAL = {
  deterministic: {
    title: 'Eq. (2) with Φ*, the perfect denoiser',
    formula: 'z<sub>ℓ−1</sub> = ŷ*(z<sub>ℓ</sub>, ℓ)',
    caption:
      'Φ* is the exact minimiser of the training loss on the training images: ŷ*(z, ℓ) = Σ<sub>i</sub> w<sub>i</sub> y<sub>i</sub>, the training images weighted by how likely each one produced z. At the top level the weights are almost uniform, so ŷ* is the mean image <b>(quiz (a))</b>, and every row lands on the same picture <b>(quiz (b))</b> — exactly, not just for a well-trained network.',
  },
  stochastic: {
    title: 'Stochastic sampler with Φ*',
    formula: 'z<sub>ℓ−1</sub> = m(z<sub>ℓ</sub>, ŷ*) + σ δ',
    caption:
      'The Gaussian step at the perfect denoiser’s mean. With many levels it samples the training set itself (look at the memorisation figure). With few levels each step must jump between very different digits, and one Gaussian around their mean blurs them: Problem 2, with no network error at all.',
  },
  ddim: {
    title: 'DDIM with Φ*',
    formula: 'z<sub>ℓ−1</sub> = a<sup>ℓ−1</sup> ŷ* + √(1 − a<sup>2(ℓ−1)</sup>) ε̂*',
    caption: 'DDIM with the perfect denoiser: deterministic, and every z<sub>L</sub> still leads to its own digit — a training digit, since Φ* knows nothing else.',
  },
  exact: {
    title: 'The true reverse conditional',
    formula: 'z<sub>ℓ−1</sub> ~ Σ<sub>i</sub> w<sub>i</sub>(z<sub>ℓ</sub>, ℓ) N(m(z<sub>ℓ</sub>, y<sub>i</sub>), v I)',
    caption:
      'What every sampler approximates: pick a training image i with probability w<sub>i</sub>(z<sub>ℓ</sub>, ℓ), then the Gaussian step towards it. A mixture, not one Gaussian: with few levels it is strongly multimodal, which is why the CVAE step (Problem 2) needs a latent. Its chains reproduce training images.',
  },
};

const COLORS = {
  deterministic: '#d1495b',
  stochastic: '#2e86ab',
  ddim: '#3c9d5d',
  cvae: '#8e5cc4',
  'universal/deterministic': '#f08a4b',
  'universal/stochastic': '#7fb8d9',
  'universal/ddim': '#8fcf9c',
  'universal/exact': '#c9a227',
  real: '#555',
};
export const SAMPLER_COLORS = COLORS;

const LABELS = {
  deterministic: 'eq. (2)',
  stochastic: 'stochastic',
  ddim: 'DDIM',
  cvae: 'progressive CVAE',
  'universal/deterministic': 'eq. (2) with Φ*',
  'universal/stochastic': 'stochastic with Φ*',
  'universal/ddim': 'DDIM with Φ*',
  'universal/exact': 'true conditional',
};

export const SAMPLER_LABELS = LABELS;

/** A sampler spec's short name in tables and legends. */
export const samplerLabel = (spec) => LABELS[spec] ?? spec;

/** Title, formula and caption of a sampler spec. */
export function describe(spec) {
  const [model, name] = spec.includes('/') ? spec.split('/') : [null, spec];
  return (model === 'universal' ? UNIVERSAL[name] : SAMPLERS[name]) ?? { title: spec, formula: '', caption: '' };
}

/** A spec as part of an element id ("universal/exact" -> "universal-exact"). */
export const domId = (spec) => spec.replace(/[^a-z0-9_-]/gi, '-');

/**
 * The samplers shown: the run's specs (the core's list once a session is ready, else the main
 * model's), filtered by the `show` setting (ignored when it would leave nothing).
 */
export function activeSamplers(model, runSamplers, show) {
  let names = runSamplers && runSamplers.length ? [...runSamplers] : [...SAMPLERS_BY_MODEL[model]];
  if (show && show.length) {
    // In the order `show` lists them (a scenario's panel order).
    const shown = show.filter((n) => names.includes(n));
    if (shown.length) names = shown;
  }
  return names;
}

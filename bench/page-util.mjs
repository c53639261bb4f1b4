// Helpers both peer pages use (bench/tfjs/, bench/jaxjs/): their query's whole-number settings and
// the median of the block times.

/** `int(name, default)` over the query `q`: a positive whole number (`warmup` may be 0), else throws. */
export const intParam = (q) => (name, def) => {
  const v = q.has(name) ? Number(q.get(name)) : def;
  if (!Number.isInteger(v) || v < (name === 'warmup' ? 0 : 1)) throw new Error(`bad ${name}: ${q.get(name)}`);
  return v;
};

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

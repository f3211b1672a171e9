/**
 * The threads engine's collective kernels (AssemblyScript, compiled by `npm run build:wasm` into
 * dist/wasm/collective.wasm): the reduce-scatter of gradient slots and the out-of-place SGD
 * update, with f32x4 SIMD. Design and measured figures: docs/architecture.md, "The threads
 * engine".
 *
 * The module IMPORTS its memory (env.memory): the engine's one shared WebAssembly.Memory, which
 * holds both parameter versions, both optimizer-state versions, the gradient slots and the reduced
 * gradient. Every worker thread (and the coordinator) instantiates this module over that same
 * memory, so the kernels read and write the engine's buffers in place, with no copy. The module
 * has no data segments and keeps nothing in memory: instantiating it again writes nothing.
 *
 * Every argument is a byte address in that memory, an element index or a count. The order of
 * every operation is fixed so that the JavaScript references give the same bits
 * (src/collective/shared-reduce.ts for the reduce, src/optim/sgd.ts for the update):
 * - reduce: element j of the sum is ((slot_0 + slot_1) + slot_2) + ... in float32, slot order.
 * - squared norms over a range [start, end): element j goes to lane (j - start) & 3; within a
 *   chunk of 32 elements from start (the last 1-3 elements of a range whose length is not a
 *   multiple of 4 form a chunk of their own) each lane sums float32 squares in float32, and the
 *   chunk's four lane sums are added to four float64 lanes, combined at the end as
 *   (l0 + l2) + (l1 + l3). A chunk adds at most 8 squares per lane in float32, so a norm is within
 *   about 8 · 2^-24 ≈ 5e-7 (relative) of the exact value. A norm outside [2^-70, ∞) (an overflow
 *   of a float32 square, a NaN, or a vector so small that float32 squares underflow) is computed
 *   again in float64 (exact squares, four float64 lanes, same combination).
 * - update: float32 arithmetic, each operation in the order of src/optim/sgd.ts, never fused.
 */

/** Elements per chunk of the float32 norm accumulators (8 per lane). */
const CHUNK: i32 = 32;
/** Norms below this (or not finite) are recomputed in float64. */
const NORM_MIN: f64 = 8.470329472543003e-22; // 2^-70

/** Bytes of scratch one caller of `reduce` must pass for n slots: float64 lanes of n + 1 norms. */
export function reduceScratchBytes(n: i32): i32 {
  return 32 * (n + 1);
}

/** First byte this module could use for itself (it has no static data). */
export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------------------------------------
// Helpers. A range is processed four elements at a time. Its last 1-3 elements (only at the end
// of the parameter vector, as ranges start and end on cache lines) go through the same code with
// `tail` set: loaded into a zero-padded vector (zeros add nothing to a sum of squares, and the
// padded lanes are never stored) and stored lane by lane. `tail` is a constant at every call, so
// the body loop has no branch for it.

/** The `count` (1-3) float32 at `ptr` in the low lanes, zeros above. */
@inline
function loadTail(ptr: usize, count: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(ptr));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(ptr, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(ptr, 8));
  return v;
}

@inline
function load4(ptr: usize, tail: bool, count: i32): v128 {
  return tail ? loadTail(ptr, count) : v128.load(ptr);
}

@inline
function store4(ptr: usize, v: v128, tail: bool, count: i32): void {
  if (!tail) {
    v128.store(ptr, v);
    return;
  }
  store<f32>(ptr, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(ptr, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(ptr, f32x4.extract_lane(v, 2), 8);
}

/** Lanes 0, 1 of a f32x4 as f64x2. */
@inline
function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** Lanes 2, 3 of a f32x4 as f64x2. */
@inline
function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** acc + x·x, lane-wise in float32. */
@inline
function sq32(acc: v128, x: v128): v128 {
  return f32x4.add(acc, f32x4.mul(x, x));
}

/** (l0 + l2) + (l1 + l3) of the four float64 lanes at `lanes`. */
@inline
function combine(lanes: usize): f64 {
  const t = f64x2.add(v128.load(lanes), v128.load(lanes, 16));
  return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
}

// ---------------------------------------------------------------------------------------------
// Reduce-scatter.

/**
 * out[j] = ((slot_0[j] + slot_1[j]) + ...) + slot_{n-1}[j] in float32 for j in [start, end);
 * slot s starts at slots + s·length·4. Writes to scratch (reduceScratchBytes(n) bytes, 16-byte
 * aligned) the float64 squared norms over the range: scratch[s] of slot s for s < n, scratch[n]
 * of the reduced range.
 *
 * Slots stream through in groups of up to four, each group in one pass: the first reads its
 * slots, later ones also read the partial sum back from `out` (a float32 partial sum stored and
 * loaded again is exact, so grouping does not change the bits).
 */
export function reduce(slots: usize, n: i32, length: i32, out: usize, start: i32, end: i32, scratch: usize): void {
  memory.fill(scratch, 0, <usize>reduceScratchBytes(n));
  const stride = <usize>length << 2;
  const body = start + ((end - start) & ~3);
  const reducedLanes = scratch + (<usize>n << 5);
  for (let s = 0; s < n; s += 4) {
    const k = min(4, n - s);
    const p = slots + <usize>s * stride;
    const lanes = scratch + (<usize>s << 5);
    if (s + k < n) {
      if (s == 0) pass4(p, stride, out, start, body, end, lanes, reducedLanes, false, false);
      else pass4(p, stride, out, start, body, end, lanes, reducedLanes, true, false);
    } else if (s == 0) {
      if (k == 1) pass1(p, stride, out, start, body, end, lanes, reducedLanes, false, true);
      else if (k == 2) pass2(p, stride, out, start, body, end, lanes, reducedLanes, false, true);
      else if (k == 3) pass3(p, stride, out, start, body, end, lanes, reducedLanes, false, true);
      else pass4(p, stride, out, start, body, end, lanes, reducedLanes, false, true);
    } else {
      if (k == 1) pass1(p, stride, out, start, body, end, lanes, reducedLanes, true, true);
      else if (k == 2) pass2(p, stride, out, start, body, end, lanes, reducedLanes, true, true);
      else if (k == 3) pass3(p, stride, out, start, body, end, lanes, reducedLanes, true, true);
      else pass4(p, stride, out, start, body, end, lanes, reducedLanes, true, true);
    }
  }
  // Combine the lanes; norm s overwrites lanes of norms <= s, already combined.
  for (let s = 0; s <= n; s++) {
    let norm = combine(scratch + (<usize>s << 5));
    if (!(norm >= NORM_MIN && norm < Infinity)) norm = normSq64(s < n ? slots + <usize>s * stride : out, start, end);
    store<f64>(scratch + (<usize>s << 3), norm);
  }
}

// One pass of k = 1-4 slots (at p, p + stride, ...): body then tail.
function pass1(p: usize, stride: usize, out: usize, start: i32, body: i32, end: i32, lanes: usize, reducedLanes: usize, accIn: bool, last: bool): void {
  if (accIn) {
    if (last) {
      group(p, stride, 1, true, true, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 1, true, true, out, body, end, lanes, reducedLanes, true);
    } else {
      group(p, stride, 1, true, false, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 1, true, false, out, body, end, lanes, reducedLanes, true);
    }
  } else {
    // One slot alone: the slot is the sum, and its norm is the reduced norm.
    group(p, stride, 1, false, false, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 1, false, false, out, body, end, lanes, reducedLanes, true);
    if (last) memory.copy(reducedLanes, lanes, 32);
  }
}
function pass2(p: usize, stride: usize, out: usize, start: i32, body: i32, end: i32, lanes: usize, reducedLanes: usize, accIn: bool, last: bool): void {
  if (accIn) {
    if (last) {
      group(p, stride, 2, true, true, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 2, true, true, out, body, end, lanes, reducedLanes, true);
    } else {
      group(p, stride, 2, true, false, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 2, true, false, out, body, end, lanes, reducedLanes, true);
    }
  } else if (last) {
    group(p, stride, 2, false, true, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 2, false, true, out, body, end, lanes, reducedLanes, true);
  } else {
    group(p, stride, 2, false, false, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 2, false, false, out, body, end, lanes, reducedLanes, true);
  }
}
function pass3(p: usize, stride: usize, out: usize, start: i32, body: i32, end: i32, lanes: usize, reducedLanes: usize, accIn: bool, last: bool): void {
  if (accIn) {
    if (last) {
      group(p, stride, 3, true, true, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 3, true, true, out, body, end, lanes, reducedLanes, true);
    } else {
      group(p, stride, 3, true, false, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 3, true, false, out, body, end, lanes, reducedLanes, true);
    }
  } else if (last) {
    group(p, stride, 3, false, true, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 3, false, true, out, body, end, lanes, reducedLanes, true);
  } else {
    group(p, stride, 3, false, false, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 3, false, false, out, body, end, lanes, reducedLanes, true);
  }
}
function pass4(p: usize, stride: usize, out: usize, start: i32, body: i32, end: i32, lanes: usize, reducedLanes: usize, accIn: bool, last: bool): void {
  if (accIn) {
    if (last) {
      group(p, stride, 4, true, true, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 4, true, true, out, body, end, lanes, reducedLanes, true);
    } else {
      group(p, stride, 4, true, false, out, start, body, lanes, reducedLanes, false);
      if (body < end) group(p, stride, 4, true, false, out, body, end, lanes, reducedLanes, true);
    }
  } else if (last) {
    group(p, stride, 4, false, true, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 4, false, true, out, body, end, lanes, reducedLanes, true);
  } else {
    group(p, stride, 4, false, false, out, start, body, lanes, reducedLanes, false);
    if (body < end) group(p, stride, 4, false, false, out, body, end, lanes, reducedLanes, true);
  }
}

/**
 * out = (accIn ? out : 0-th slot) + the group's slots in order over [from, to), with each slot's
 * norm (and, if `last`, the reduced norm) accumulated chunk by chunk. k, accIn, last and tail are
 * constants at every call, so each inlined copy is one straight loop.
 */
@inline
function group(p: usize, stride: usize, k: i32, accIn: bool, last: bool, out: usize, from: i32, to: i32, lanes: usize, reducedLanes: usize, tail: bool): void {
  const p1 = p + stride;
  const p2 = p1 + stride;
  const p3 = p2 + stride;
  // The float64 lanes of each norm stay in registers for the whole pass (unused ones fold away).
  let l0lo = v128.load(lanes);
  let l0hi = v128.load(lanes, 16);
  let l1lo = k > 1 ? v128.load(lanes, 32) : f64x2.splat(0);
  let l1hi = k > 1 ? v128.load(lanes, 48) : f64x2.splat(0);
  let l2lo = k > 2 ? v128.load(lanes, 64) : f64x2.splat(0);
  let l2hi = k > 2 ? v128.load(lanes, 80) : f64x2.splat(0);
  let l3lo = k > 3 ? v128.load(lanes, 96) : f64x2.splat(0);
  let l3hi = k > 3 ? v128.load(lanes, 112) : f64x2.splat(0);
  let lrlo = last ? v128.load(reducedLanes) : f64x2.splat(0);
  let lrhi = last ? v128.load(reducedLanes, 16) : f64x2.splat(0);
  for (let c = from; c < to; c += CHUNK) {
    const ce = min(c + CHUNK, to);
    let f0 = f32x4.splat(0);
    let f1 = f32x4.splat(0);
    let f2 = f32x4.splat(0);
    let f3 = f32x4.splat(0);
    let fr = f32x4.splat(0);
    for (let j = c; j < ce; j += 4) {
      const o = <usize>j << 2;
      const count = to - j;
      const x0 = load4(p + o, tail, count);
      f0 = sq32(f0, x0);
      let acc = accIn ? f32x4.add(load4(out + o, tail, count), x0) : x0;
      if (k > 1) {
        const x1 = load4(p1 + o, tail, count);
        f1 = sq32(f1, x1);
        acc = f32x4.add(acc, x1);
      }
      if (k > 2) {
        const x2 = load4(p2 + o, tail, count);
        f2 = sq32(f2, x2);
        acc = f32x4.add(acc, x2);
      }
      if (k > 3) {
        const x3 = load4(p3 + o, tail, count);
        f3 = sq32(f3, x3);
        acc = f32x4.add(acc, x3);
      }
      if (last) fr = sq32(fr, acc);
      store4(out + o, acc, tail, count);
    }
    // The chunk's float32 lane sums into the float64 lanes.
    l0lo = f64x2.add(l0lo, lo64(f0));
    l0hi = f64x2.add(l0hi, hi64(f0));
    if (k > 1) {
      l1lo = f64x2.add(l1lo, lo64(f1));
      l1hi = f64x2.add(l1hi, hi64(f1));
    }
    if (k > 2) {
      l2lo = f64x2.add(l2lo, lo64(f2));
      l2hi = f64x2.add(l2hi, hi64(f2));
    }
    if (k > 3) {
      l3lo = f64x2.add(l3lo, lo64(f3));
      l3hi = f64x2.add(l3hi, hi64(f3));
    }
    if (last) {
      lrlo = f64x2.add(lrlo, lo64(fr));
      lrhi = f64x2.add(lrhi, hi64(fr));
    }
  }
  v128.store(lanes, l0lo);
  v128.store(lanes, l0hi, 16);
  if (k > 1) {
    v128.store(lanes, l1lo, 32);
    v128.store(lanes, l1hi, 48);
  }
  if (k > 2) {
    v128.store(lanes, l2lo, 64);
    v128.store(lanes, l2hi, 80);
  }
  if (k > 3) {
    v128.store(lanes, l3lo, 96);
    v128.store(lanes, l3hi, 112);
  }
  if (last) {
    v128.store(reducedLanes, lrlo);
    v128.store(reducedLanes, lrhi, 16);
  }
}

/**
 * Σ x² over [start, end) of the float32 vector at p in float64: exact squares in four float64
 * lanes, combined as (l0 + l2) + (l1 + l3). The fallback of `reduce` for norms outside the range
 * float32 squares handle.
 */
export function normSq64(p: usize, start: i32, end: i32): f64 {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  const body = start + ((end - start) & ~3);
  for (let j = start; j < body; j += 4) {
    const v = v128.load(p + (<usize>j << 2));
    lo = f64x2.add(lo, f64x2.mul(lo64(v), lo64(v)));
    hi = f64x2.add(hi, f64x2.mul(hi64(v), hi64(v)));
  }
  if (body < end) {
    const v = loadTail(p + (<usize>body << 2), end - body);
    lo = f64x2.add(lo, f64x2.mul(lo64(v), lo64(v)));
    hi = f64x2.add(hi, f64x2.mul(hi64(v), hi64(v)));
  }
  const t = f64x2.add(lo, hi);
  return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
}

/**
 * Σ x² over [start, end) of the float32 vector at p, reading only: the arithmetic of `reduce`'s
 * norm of one slot (chunks of 32 from start, float32 then float64 lanes, (l0 + l2) + (l1 + l3),
 * the float64 fallback), so the inline engine's gradient norm has the bits of the threads
 * engine's with one worker, without the store of the reduce.
 */
export function normSq(p: usize, start: i32, end: i32): f64 {
  const body = start + ((end - start) & ~3);
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let c = start;
  // Four chunks at a time: one chunk's float32 sum is a chain of dependent adds, bound by their
  // latency; four independent chains run at the loads' speed (3x at B = 1 here). They join the
  // float64 lanes in chunk order, as one at a time do: the same bits.
  for (; c + 4 * CHUNK <= body; c += 4 * CHUNK) {
    let f0 = f32x4.splat(0);
    let f1 = f32x4.splat(0);
    let f2 = f32x4.splat(0);
    let f3 = f32x4.splat(0);
    const q = p + (<usize>c << 2);
    for (let j: usize = 0; j < <usize>CHUNK << 2; j += 16) {
      f0 = sq32(f0, v128.load(q + j));
      f1 = sq32(f1, v128.load(q + j, CHUNK << 2));
      f2 = sq32(f2, v128.load(q + j, CHUNK << 3));
      f3 = sq32(f3, v128.load(q + j, (CHUNK << 3) + (CHUNK << 2)));
    }
    lo = f64x2.add(lo, lo64(f0));
    hi = f64x2.add(hi, hi64(f0));
    lo = f64x2.add(lo, lo64(f1));
    hi = f64x2.add(hi, hi64(f1));
    lo = f64x2.add(lo, lo64(f2));
    hi = f64x2.add(hi, hi64(f2));
    lo = f64x2.add(lo, lo64(f3));
    hi = f64x2.add(hi, hi64(f3));
  }
  for (; c < body; c += CHUNK) {
    const ce = min(c + CHUNK, body);
    let f = f32x4.splat(0);
    for (let j = c; j < ce; j += 4) f = sq32(f, v128.load(p + (<usize>j << 2)));
    lo = f64x2.add(lo, lo64(f));
    hi = f64x2.add(hi, hi64(f));
  }
  if (body < end) {
    const f = sq32(f32x4.splat(0), loadTail(p + (<usize>body << 2), end - body));
    lo = f64x2.add(lo, lo64(f));
    hi = f64x2.add(hi, hi64(f));
  }
  const t = f64x2.add(lo, hi);
  const norm = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  return norm >= NORM_MIN && norm < Infinity ? norm : normSq64(p, start, end);
}

// ---------------------------------------------------------------------------------------------
// Out-of-place SGD (src/optim/sgd.ts; torch.optim.SGD with dampening 0): reads parameters (and
// the momentum buffer) of version v at pFrom (bFrom), writes version v + 1 at pTo (bTo), over
// [start, end). Version v is never written, so an update that dies halfway can be run again.

const SGD: i32 = 0;
const MOMENTUM: i32 = 1;
const NESTEROV: i32 = 2;

/** p' = p - lr·(s·g + wd·p), in float32 */
export function sgd(pFrom: usize, pTo: usize, grad: usize, start: i32, end: i32, lr: f64, s: f64, wd: f64): void {
  const body = start + ((end - start) & ~3);
  if (wd == 0) {
    updateLoop(SGD, false, pFrom, pTo, 0, 0, grad, start, body, lr, s, wd, 0, false);
    if (body < end) updateLoop(SGD, false, pFrom, pTo, 0, 0, grad, body, end, lr, s, wd, 0, true);
  } else {
    updateLoop(SGD, true, pFrom, pTo, 0, 0, grad, start, body, lr, s, wd, 0, false);
    if (body < end) updateLoop(SGD, true, pFrom, pTo, 0, 0, grad, body, end, lr, s, wd, 0, true);
  }
}

/** b' = μ·b + (s·g + wd·p);  p' = p - lr·b', in float32 */
export function momentum(pFrom: usize, pTo: usize, bFrom: usize, bTo: usize, grad: usize, start: i32, end: i32, lr: f64, s: f64, wd: f64, mu: f64): void {
  const body = start + ((end - start) & ~3);
  if (wd == 0) {
    updateLoop(MOMENTUM, false, pFrom, pTo, bFrom, bTo, grad, start, body, lr, s, wd, mu, false);
    if (body < end) updateLoop(MOMENTUM, false, pFrom, pTo, bFrom, bTo, grad, body, end, lr, s, wd, mu, true);
  } else {
    updateLoop(MOMENTUM, true, pFrom, pTo, bFrom, bTo, grad, start, body, lr, s, wd, mu, false);
    if (body < end) updateLoop(MOMENTUM, true, pFrom, pTo, bFrom, bTo, grad, body, end, lr, s, wd, mu, true);
  }
}

/** g' = s·g + wd·p;  b' = μ·b + g';  p' = p - lr·(g' + μ·b'), in float32 */
export function nesterov(pFrom: usize, pTo: usize, bFrom: usize, bTo: usize, grad: usize, start: i32, end: i32, lr: f64, s: f64, wd: f64, mu: f64): void {
  const body = start + ((end - start) & ~3);
  if (wd == 0) {
    updateLoop(NESTEROV, false, pFrom, pTo, bFrom, bTo, grad, start, body, lr, s, wd, mu, false);
    if (body < end) updateLoop(NESTEROV, false, pFrom, pTo, bFrom, bTo, grad, body, end, lr, s, wd, mu, true);
  } else {
    updateLoop(NESTEROV, true, pFrom, pTo, bFrom, bTo, grad, start, body, lr, s, wd, mu, false);
    if (body < end) updateLoop(NESTEROV, true, pFrom, pTo, bFrom, bTo, grad, body, end, lr, s, wd, mu, true);
  }
}

/**
 * The three variants in float32, each operation rounded as src/optim/sgd.ts rounds it with
 * Math.fround (a float32 product or sum computed in float64 and rounded once is the float32
 * result), in the same order and never fused (PyTorch's SGD works in the parameters' float32 as
 * well). Without weight decay (`decay` false) the wd·p term is not computed, in both (as
 * torch.optim.SGD). `kind`, `decay` and `tail` are constants at every call.
 */
@inline
function updateLoop(kind: i32, decay: bool, pFrom: usize, pTo: usize, bFrom: usize, bTo: usize, grad: usize, from: i32, to: i32, lr: f64, s: f64, wd: f64, mu: f64, tail: bool): void {
  const LR = f32x4.splat(<f32>lr);
  const S = f32x4.splat(<f32>s);
  const WD = f32x4.splat(<f32>wd);
  const MU = f32x4.splat(<f32>mu);
  for (let j = from; j < to; j += 4) {
    const o = <usize>j << 2;
    const count = to - j;
    const p = load4(pFrom + o, tail, count);
    // g = s * grad (+ wd * p)
    let g = f32x4.mul(S, load4(grad + o, tail, count));
    if (decay) g = f32x4.add(g, f32x4.mul(WD, p));
    let d = g;
    if (kind != SGD) {
      // b = mu * buf + g;  then p moves by b (momentum) or by g + mu * b (Nesterov)
      const b = f32x4.add(f32x4.mul(MU, load4(bFrom + o, tail, count)), g);
      store4(bTo + o, b, tail, count);
      d = kind == MOMENTUM ? b : f32x4.add(g, f32x4.mul(MU, b));
    }
    store4(pTo + o, f32x4.sub(p, f32x4.mul(LR, d)), tail, count);
  }
}

/** Zeroes `bytes` bytes (a gradient slot before a step: a native memset, where a TypedArray fill on shared memory is ~9x slower). */
export function zero(dst: usize, bytes: usize): void {
  memory.fill(dst, 0, bytes);
}

/** Copies `bytes` bytes (the Adam path's copy of version v to v + 1 before its in-place update). */
export function copy(dst: usize, src: usize, bytes: usize): void {
  memory.copy(dst, src, bytes);
}

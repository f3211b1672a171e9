/**
 * `--model ./net.json`: a model as a JSON file (docs/models.md#json):
 *   {"input": [1, 28, 28], "layers": [{"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1}, {"type": "relu"}, ...],
 *    "loss": "softmax-cross-entropy"}
 * Every key is checked: an unknown key or a wrong type is refused with its place named.
 */
import { readFileSync } from 'node:fs';
import { JsonSyntaxError, ModelError, shown } from '../errors.js';
import { parseStrictJson } from '../io/strict-json.js';
import { MAX_DIM, type LayerSpec } from './layers.js';
import type { LossKind } from './spec.js';

export interface ModelFile {
  input: number[];
  layers: LayerSpec[];
  loss: LossKind;
}

/** True for text that names a model file rather than a spec: ends in .json. */
export function isModelFilePath(text: string): boolean {
  return /\.json$/i.test(text);
}

/** Fields each layer type takes: name -> [kind, required, default]. */
type Field = ['int', number] | ['int0', number] | ['bool', boolean] | ['rate', number];
const FIELDS: Record<LayerSpec['type'], Record<string, Field | 'required-int'>> = {
  dense: { units: 'required-int', bias: ['bool', true] },
  conv2d: { filters: 'required-int', kernel: 'required-int', stride: ['int', 1], padding: ['int0', 0], bias: ['bool', true] },
  maxpool2d: { kernel: 'required-int', stride: ['int', 0], padding: ['int0', 0] },
  avgpool2d: { kernel: 'required-int', stride: ['int', 0], padding: ['int0', 0] },
  globalavgpool: {},
  flatten: {},
  relu: {},
  tanh: {},
  gelu: {},
  layernorm: {},
  batchnorm: {},
  dropout: { rate: ['rate', 0.5] },
};

const FILE_HINT = 'give the path of a model .json file (docs/models.md) or a spec such as mlp:4-16-3';

/** Why the model file cannot be read, with the fix, for a Node error code. */
function unreadable(path: string, code: string): string {
  if (code === 'ENOENT') return `model file ${path}: no such file (relative paths start at ${process.cwd()}) — ${FILE_HINT}`;
  if (code === 'EISDIR') return `model file ${path} is a directory — ${FILE_HINT}`;
  if (code === 'EACCES' || code === 'EPERM') return `model file ${path} cannot be read (${code}: no permission) — make it readable, or ${FILE_HINT}`;
  return `model file ${path} cannot be read (${code}) — ${FILE_HINT}`;
}

/** Reads and checks a model file; ModelError `dptrain.model.badModelFile` names the problem. */
export function readModelFile(path: string): ModelFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ModelError('badModelFile', unreadable(path, (cause as NodeJS.ErrnoException).code ?? String(cause)), { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ModelError('badModelFile', `model file ${path} is not valid JSON: ${syntaxError(text, cause as Error)} — correct the file there (JSON allows no trailing comma or comment; docs/models.md shows the format)`, { cause });
  }
  return parseModelFile(raw, path);
}

/**
 * Where and what JSON.parse's error is, on one line: `line 3, column 41: unexpected character "]"`.
 * The place comes from the strict parser (Node 20's JSON.parse gives no position for an unexpected
 * token, and quotes the file's text, newlines included); failing that, JSON.parse's first clause.
 */
function syntaxError(text: string, error: Error): string {
  try {
    parseStrictJson(text, 1000);
  } catch (strict) {
    if (strict instanceof JsonSyntaxError && !/^(duplicate key|nesting deeper)/.test(strict.message)) {
      const before = text.slice(0, strict.position).split('\n');
      return `line ${before.length}, column ${before.at(-1)!.length + 1}: ${strict.message.replace(/ at position \d+$/, '')}`;
    }
  }
  return error.message.replace(/, (\.\.\.)?".*$/s, '').replace(/\s+/g, ' ');
}

/** Checks a parsed model file (exported for the library and tests). */
export function parseModelFile(raw: unknown, where = 'the model'): ModelFile {
  const fail = (what: string): never => {
    throw new ModelError('badModelFile', `${where}: ${what} — e.g. {"input": [1, 28, 28], "layers": [{"type": "conv2d", "filters": 8, "kernel": 3}, {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "units": 10}]}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object with "input" and "layers"');
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!['input', 'layers', 'loss'].includes(key)) fail(`unknown key ${shown(key)} (the keys are input, layers and loss)`);
  const input = obj.input;
  if (!Array.isArray(input) || !(input.length === 1 || input.length === 3) || !input.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_DIM)) {
    fail(`"input" must be [C, H, W] or [D] with positive integers (got ${JSON.stringify(input)})`);
  }
  const loss = obj.loss ?? 'softmax-cross-entropy';
  if (loss !== 'softmax-cross-entropy' && loss !== 'mse') fail(`"loss" must be "softmax-cross-entropy" or "mse" (got ${JSON.stringify(loss)})`);
  if (!Array.isArray(obj.layers) || obj.layers.length === 0) fail('"layers" must be a non-empty list of layers');
  const layers = (obj.layers as unknown[]).map((layer, i) => parseLayer(layer, `layers[${i}]`, fail));
  return { input: input as number[], layers, loss: loss as LossKind };
}

function parseLayer(raw: unknown, at: string, fail: (what: string) => never): LayerSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${at} must be an object with a "type"`);
  const obj = raw as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string' || !Object.hasOwn(FIELDS, type)) {
    fail(`${at} has type ${JSON.stringify(type)}; the types are ${Object.keys(FIELDS).join(', ')}`);
  }
  const fields = FIELDS[type as LayerSpec['type']];
  const out: Record<string, unknown> = { type };
  for (const key of Object.keys(obj)) if (key !== 'type' && !Object.hasOwn(fields, key)) fail(`${at} (${type}) has unknown key ${shown(key)}${Object.keys(fields).length ? ` (it takes ${Object.keys(fields).join(', ')})` : ' (it takes none)'}`);
  for (const [key, field] of Object.entries(fields)) {
    const v = obj[key];
    if (field === 'required-int' || field[0] === 'int' || field[0] === 'int0') {
      const min = field !== 'required-int' && field[0] === 'int0' ? 0 : 1;
      if (v === undefined) {
        if (field === 'required-int') fail(`${at} (${type}) needs "${key}", a positive integer`);
        else out[key] = field[1];
        continue;
      }
      if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= MAX_DIM)) fail(`${at}.${key} must be an integer from ${min} to ${MAX_DIM} (got ${JSON.stringify(v)})`);
      out[key] = v;
    } else if (field[0] === 'bool') {
      if (v !== undefined && typeof v !== 'boolean') fail(`${at}.${key} must be true or false (got ${JSON.stringify(v)})`);
      out[key] = v ?? field[1];
    } else {
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && v < 1)) fail(`${at}.${key} must be a number at least 0 and below 1 (got ${JSON.stringify(v)})`);
      out[key] = v ?? field[1];
    }
  }
  // Pools default their stride to the kernel, as in PyTorch.
  if ((type === 'maxpool2d' || type === 'avgpool2d') && out.stride === 0) out.stride = out.kernel;
  return out as unknown as LayerSpec;
}

// Issue 12 item 8: file errors say what the file is. `inspect` of a CSV says it is not safetensors
// and what it looks like; a directory says so; --init of another model's file names both models.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { paramLayout, parseModelSpec } from '../src/model/index.js';
import { saveParameters } from '../src/train/index.js';
import { oneErrorLine, runCli, tempDir } from './helpers.js';

let dir = '';
before(() => {
  dir = tempDir('dptrain-file-errors-');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const oneLine = oneErrorLine;

describe('dptrain inspect of something that is not a safetensors file', () => {
  test('a CSV file: "not a safetensors file", and it looks like CSV (the wrong file given: exit 2)', () => {
    const file = path.join(dir, 'iris.csv');
    fs.writeFileSync(file, 'sepal_length,sepal_width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n');
    const line = oneLine(runCli(['inspect', file]), 2, 'dptrain.format.notSafetensors');
    assert.match(line, /iris\.csv: not a safetensors file: it is text that looks like CSV \(first line "sepal_length,sepal_width,species"; use it as a dataset: csv:PATH\)/);
  });

  test('a gzip file, a JSON file and binary junk say what they look like', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['data.gz', gzipSync(Buffer.alloc(100)), /it is gzip-compressed data/],
      ['config.json', Buffer.from('{\n  "model": "mlp:4-8-3"\n}\n'), /it is text that looks like JSON/],
      ['junk.bin', Buffer.from([0x13, 0x37, 0xfa, 0xce, 0x01, 0x02, 0x03, 0x04, 0xff, 0x00, 0x12]), /it holds binary data starting 13 37 fa ce 01 02 03 04/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      assert.match(oneLine(runCli(['inspect', file]), 2, 'dptrain.format.notSafetensors'), pattern);
    }
  });

  test("a run's summary.json: one line, exit 2, naming the run's final.safetensors to inspect", () => {
    const run = path.join(dir, 'run-outputs');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'summary.json'), JSON.stringify({ steps: 3, final: { valLoss: 0.2 } }, null, 2) + '\n');
    fs.writeFileSync(path.join(run, 'final.safetensors'), '');
    const line = oneLine(runCli(['inspect', path.join(run, 'summary.json')]), 2, 'dptrain.format.notSafetensors');
    assert.match(line, /summary\.json: not a safetensors file: it is text that looks like JSON \(first line "\{"\) — give a \.safetensors file, e\.g\. dptrain inspect .*run-outputs\/final\.safetensors/);
  });

  test('a directory: says it is a directory and which files to pass (a mistake in the command: exit 2)', () => {
    const run = path.join(dir, 'run');
    fs.mkdirSync(run);
    const line = oneLine(runCli(['inspect', run]), 2, 'dptrain.config.inspectNotAFile');
    assert.match(line, /run is a directory — give a file such as .*run\/final\.safetensors or a ckpt-<step>\.safetensors \(it holds no \.safetensors file\)/);
  });
});

describe('--init of another model\'s parameters', () => {
  test('names both models: the one the file holds and the run\'s', async () => {
    const other = 'mlp:4-16-3';
    const file = path.join(dir, 'other.safetensors');
    const layout = paramLayout(parseModelSpec(other));
    await saveParameters(file, new Float32Array(layout.size), layout, other);
    const line = oneLine(
      runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'mlp:4-8-3', '--init', file]),
      2,
      'dptrain.model.initMismatch',
    );
    assert.match(line, /tensor "layers\.0\.weight" has shape \[16,4\] but mlp:4-8-3 needs \[8,4\] \(the file holds parameters of mlp:4-16-3; this run's model is mlp:4-8-3\)/);
  });

  test('a directory passed to --init says so (a mistake in the command: exit 2)', () => {
    const line = oneLine(runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--model', 'mlp:4-8-3', '--init', dir]), 2, 'dptrain.model.badInitFile');
    assert.match(line, /--init .* is a directory, not a safetensors file/);
  });
});

// A user try: --init of a missing file, a directory or a CSV exited 1 (a format error), and --init
// of a damaged checkpoint trained from the damaged weights; --model of a missing JSON file printed
// Node's raw ENOENT text.
describe('--init FILE that cannot be used, as a user types it', () => {
  const blobs = ['--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--epochs', '1'];

  test('a missing file, a directory or a CSV file: one line naming --init and the fix, exit 2, for train and coordinator', () => {
    const csv = path.join(dir, 'rows.csv');
    fs.writeFileSync(csv, 'a,b,c,d\n1,2,3,4\n');
    const cases: [string, RegExp][] = [
      [path.join(dir, 'missing.safetensors'), /--init .*missing\.safetensors: no such file \(relative paths start at .*\) — pass a final\.safetensors or ckpt-<step>\.safetensors written by dptrain train/],
      [dir, /--init .* is a directory, not a safetensors file — pass a file such as/],
      [csv, /--init .*rows\.csv: not a safetensors file: it is text that looks like CSV/],
    ];
    for (const [file, pattern] of cases) {
      for (const command of [['train'], ['coordinator', '--listen', '127.0.0.1:0']]) {
        // With and without --model: without it the model is read from the file first.
        for (const model of [[], ['--model', 'mlp:4-8-3']]) {
          const r = runCli([...command, ...blobs, ...model, '--init', file], { timeoutMs: 30_000 });
          assert.match(oneLine(r, 2, 'dptrain.model.badInitFile'), pattern);
          assert.equal(r.stdout, '');
        }
      }
    }
  });

  test('a checkpoint with 4 changed bytes of tensor data is refused by its checksum before training: exit 2 with --init (a file the command cannot use), 1 from inspect (its verdict on the file)', () => {
    const ckptDir = path.join(dir, 'ckpt-damaged');
    const first = runCli(['train', ...blobs, '--model', 'mlp:4-8-3', '--checkpoint-dir', ckptDir]);
    assert.equal(first.status, 0, first.stderr);
    const file = path.join(ckptDir, fs.readdirSync(ckptDir).find((name) => name.endsWith('.safetensors'))!);
    const bytes = fs.readFileSync(file);
    const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
    bytes.writeUInt32LE(bytes.readUInt32LE(dataStart + 16) ^ 0x01020304, dataStart + 16);
    fs.writeFileSync(file, bytes);

    assert.match(oneLine(runCli(['inspect', file]), 1, 'dptrain.format.checkpointChecksum'), /checksum mismatch .* the file is damaged/);
    for (const model of [[], ['--model', 'mlp:4-8-3']]) {
      const out = path.join(dir, `from-damaged-${model.length}`);
      const r = runCli(['train', ...blobs, ...model, '--init', file, '--out', out]);
      const line = oneLine(r, 2, 'dptrain.model.badInitFile');
      assert.match(line, /^dptrain: error: --init .*ckpt-\d+\.safetensors: checksum mismatch \(the file says sha256:[0-9a-f]{64}, its content hashes to sha256:[0-9a-f]{64}\) — the file is damaged; use an earlier checkpoint/);
      assert.ok(!fs.existsSync(path.join(out, 'final.safetensors')), 'no run trained from the damaged weights');
    }
  });
});

describe('--model FILE.json that cannot be read', () => {
  test('a missing file and a directory: one line naming the file and the fix, no raw ENOENT text, exit 2', () => {
    const folder = path.join(dir, 'net.json');
    fs.mkdirSync(folder);
    const cases: [string, RegExp][] = [
      ['./nonexistent.json', /^dptrain: error: model file \.\/nonexistent\.json: no such file \(relative paths start at .*\) — give the path of a model \.json file \(docs\/models\.md\) or a spec such as mlp:4-16-3/],
      [folder, /^dptrain: error: model file .*net\.json is a directory — give the path of a model \.json file/],
    ];
    for (const [model, pattern] of cases) {
      const line = oneLine(runCli(['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--epochs', '1', '--model', model], { cwd: dir }), 2, 'dptrain.model.badModelFile');
      assert.match(line, pattern);
      assert.doesNotMatch(line, /ENOENT|EISDIR/);
    }
  });

  test('invalid JSON (a trailing comma): one line with the line and column, none of the file text, also with --log-format json', () => {
    const file = path.join(dir, 'comma.json');
    fs.writeFileSync(file, '{"input": [4],\n "layers": [{"type": "dense", "units": 3},\n]}\n');
    const args = ['train', '--dataset', 'synthetic:blobs?n=200&d=4&classes=3', '--epochs', '1', '--model', file];
    const line = oneLine(runCli(args), 2, 'dptrain.model.badModelFile');
    assert.match(line, /comma\.json is not valid JSON: line 3, column 1: unexpected character "\]" — correct the file there/);
    assert.doesNotMatch(line, /units|is not valid JSON \[/);
    const json = runCli([...args, '--log-format', 'json']);
    assert.equal(json.status, 2, json.stderr);
    const { code, msg } = JSON.parse(json.stderr);
    assert.equal(code, 'dptrain.model.badModelFile');
    assert.match(msg, /line 3, column 1/);
    assert.doesNotMatch(msg, /\n|units/);
  });
});

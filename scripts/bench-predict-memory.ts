/**
 * `dptrain predict` on a large CSV: peak resident memory and throughput (docs/benchmarks.md,
 * "predict: memory"). Trains a small model on a 20-feature CSV, writes a CSV of SIZE bytes (default
 * 1 GiB) of such rows, and runs `dptrain predict MODEL --input BIG.csv --output OUT.csv` as a child
 * process, sampling its VmHWM (peak RSS) from /proc every 50 ms until it exits.
 *
 * usage: node dist/scripts/bench-predict-memory.js [SIZE_MB] [DIR]   (DIR default: a temp dir; the files are removed)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(repoRoot, 'bin', 'dptrain.js');
const sizeMb = Number(process.argv[2] ?? 1024);
const dir = process.argv[3] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dptrain-bench-predict-'));
const FEATURES = 20;

function row(i: number): string {
  const c = i % 3;
  const values = Array.from({ length: FEATURES }, (_, j) => (c * (j % 4) + Math.sin(i * 0.7 + j)).toFixed(4));
  return `${values.join(',')},class${c}`;
}

function writeTrainingCsv(file: string): void {
  const header = [...Array.from({ length: FEATURES }, (_, j) => `f${j}`), 'label'].join(',');
  fs.writeFileSync(file, [header, ...Array.from({ length: 3000 }, (_, i) => row(i))].join('\n') + '\n');
}

/** Writes rows until the file reaches `bytes`, in 4 MiB pieces. */
function writeBigCsv(file: string, bytes: number): number {
  const fd = fs.openSync(file, 'w');
  let written = 0;
  let rows = 0;
  const header = [...Array.from({ length: FEATURES }, (_, j) => `f${j}`), 'label'].join(',') + '\n';
  written += fs.writeSync(fd, header);
  while (written < bytes) {
    const lines: string[] = [];
    let size = 0;
    while (size < 4 << 20) {
      const line = row(rows++) + '\n';
      lines.push(line);
      size += line.length;
    }
    written += fs.writeSync(fd, lines.join(''));
  }
  fs.closeSync(fd);
  return rows;
}

function peakRss(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const trainCsv = path.join(dir, 'train.csv');
  const big = path.join(dir, 'big.csv');
  const out = path.join(dir, 'run');
  const predictions = path.join(dir, 'predictions.csv');
  try {
    writeTrainingCsv(trainCsv);
    const trained = spawnSync(process.execPath, [bin, 'train', '--dataset', `csv:${trainCsv}`, '--standardize', '--epochs', '3', '--out', out, '--overwrite'], { encoding: 'utf8' });
    if (trained.status !== 0) throw new Error(trained.stderr);
    const rows = writeBigCsv(big, sizeMb * 2 ** 20);
    const bytes = fs.statSync(big).size;
    const started = performance.now();
    const child = spawn(process.execPath, [bin, 'predict', path.join(out, 'final.safetensors'), '--input', big, '--output', predictions], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, peakRss(child.pid!))), 50);
    const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    clearInterval(timer);
    const seconds = (performance.now() - started) / 1000;
    if (status !== 0) throw new Error(stderr);
    let outputLines = -1; // the header line
    for await (const chunk of fs.createReadStream(predictions)) for (const byte of chunk as Buffer) if (byte === 0x0a) outputLines++;
    console.log(JSON.stringify({
      inputBytes: bytes,
      rows,
      outputRows: outputLines,
      seconds: Number(seconds.toFixed(1)),
      mbPerSecond: Number((bytes / 2 ** 20 / seconds).toFixed(1)),
      peakRssMb: Number((peak / 2 ** 20).toFixed(1)),
      loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    }));
  } finally {
    if (process.argv[3] === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

// The hostfile format of cluster/ (issue 5): `host slots` per line, `#` comments, blank lines.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot, tempDir } from './helpers.js';

interface HostEntry {
  host: string;
  user: string | undefined;
  name: string;
  slots: number;
  line: number | undefined;
}
interface HostfileError extends Error {
  code: string;
  line: number | undefined;
  file: string | undefined;
}
interface HostfileModule {
  parseHostfile(text: string, file?: string): HostEntry[];
  readHostfile(file: string): HostEntry[];
  parseHostList(list: string): HostEntry[];
  HostfileError: new (code: string, message: string) => HostfileError;
  MAX_SLOTS: number;
}

// cluster/ is plain ESM that needs no build: load it from the source tree.
const hostfile = (await import(pathToFileURL(path.join(repoRoot, 'cluster', 'hostfile.mjs')).href)) as HostfileModule;
const { parseHostfile, readHostfile, parseHostList, HostfileError } = hostfile;

/** Asserts that `fn` throws a HostfileError with this code, line and message. */
function assertHostfileError(fn: () => unknown, code: string, line: number | undefined, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HostfileError, `a HostfileError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.line, line);
    assert.match(error.message, message);
    return true;
  });
}

describe('parseHostfile', () => {
  test('reads one "host slots" per line and skips comments and blank lines', () => {
    const text = [
      '# two machines on the LAN',
      '',
      'gpu-a 4',
      '  10.0.0.12\tslots=2   # MPI spelling',
      'alice@box 1',
      'lone',
      'fe80::1 3',
      '   ',
    ].join('\n');
    assert.deepEqual(
      parseHostfile(text).map(({ host, user, name, slots, line }) => ({ host, user, name, slots, line })),
      [
        { host: 'gpu-a', user: undefined, name: 'gpu-a', slots: 4, line: 3 },
        { host: '10.0.0.12', user: undefined, name: '10.0.0.12', slots: 2, line: 4 },
        { host: 'alice@box', user: 'alice', name: 'box', slots: 1, line: 5 },
        { host: 'lone', user: undefined, name: 'lone', slots: 1, line: 6 },
        { host: 'fe80::1', user: undefined, name: 'fe80::1', slots: 3, line: 7 },
      ],
    );
  });

  test('accepts Windows line endings', () => {
    assert.deepEqual(
      parseHostfile('a 1\r\nb 2\r\n').map((h) => [h.name, h.slots]),
      [
        ['a', 1],
        ['b', 2],
      ],
    );
  });

  for (const bad of ['0', '-2', '2.5', 'four', 'slots=0', 'slots=', '1e3', String(hostfile.MAX_SLOTS + 1)]) {
    test(`a slot count of "${bad}" is an error that names the line`, () => {
      assertHostfileError(
        () => parseHostfile(`a 1\n# comment\nb ${bad}\n`, 'hosts.txt'),
        'dptrain.cluster.badSlots',
        3,
        new RegExp(`^hosts\\.txt:3: bad slot count "${bad.replace(/[.+]/g, '\\$&')}" for host "b" \\(must be an integer from 1 to ${hostfile.MAX_SLOTS}\\)$`),
      );
    });
  }

  test('a duplicate host is an error that names both lines (names compare case-insensitively)', () => {
    assertHostfileError(
      () => parseHostfile('nodeA 2\nnodeB 2\nuser@NODEA 1\n', 'hosts'),
      'dptrain.cluster.duplicateHost',
      3,
      /^hosts:3: duplicate host "NODEA" \(first on line 1\)$/,
    );
  });

  test('an empty file is an error', () => {
    assertHostfileError(() => parseHostfile('', 'hosts'), 'dptrain.cluster.emptyHostfile', undefined, /^hosts: no hosts \(the file is empty or has only comments\)/);
  });

  test('a file of only comments and blank lines is an error', () => {
    assertHostfileError(() => parseHostfile('# nothing yet\n\n   \n# a 2\n'), 'dptrain.cluster.emptyHostfile', undefined, /no hosts/);
  });

  test('a host that starts with "-" is refused, since ssh would read it as an option', () => {
    assertHostfileError(
      () => parseHostfile('ok 1\n-oProxyCommand=evil 1\n'),
      'dptrain.cluster.badHost',
      2,
      /^hostfile:2: host "-oProxyCommand=evil" must not start with "-"$/,
    );
  });

  test('a host with characters no host name has is refused', () => {
    assertHostfileError(() => parseHostfile('a;rm 1\n'), 'dptrain.cluster.badHost', 1, /"a;rm" is not a host name or address/);
  });

  test('more than two fields on a line is an error', () => {
    assertHostfileError(() => parseHostfile('a 2 extra\n'), 'dptrain.cluster.badLine', 1, /^hostfile:1: expected "host slots", got "a 2 extra"$/);
  });
});

describe('readHostfile', () => {
  test('reads a file and names it in errors', () => {
    const dir = tempDir();
    const file = path.join(dir, 'hosts');
    fs.writeFileSync(file, 'a 2\nb x\n');
    assertHostfileError(() => readHostfile(file), 'dptrain.cluster.badSlots', 2, new RegExp(`^${file.replace(/[.]/g, '\\.')}:2: bad slot count "x"`));
    fs.writeFileSync(file, 'a 2\nb 3\n');
    assert.deepEqual(
      readHostfile(file).map((h) => h.slots),
      [2, 3],
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a missing file is a clear error', () => {
    assertHostfileError(() => readHostfile('/nonexistent/hosts'), 'dptrain.cluster.unreadable', undefined, /^hostfile "\/nonexistent\/hosts" cannot be read \(ENOENT\)$/);
  });
});

describe('parseHostList (--hosts, like Horovod -H)', () => {
  test('reads host:slots items; slots default to 1; IPv6 addresses in brackets', () => {
    assert.deepEqual(
      parseHostList('a:2, b ,[fe80::3]:3,fe80::2').map((h) => [h.name, h.slots]),
      [
        ['a', 2],
        ['b', 1],
        ['fe80::3', 3],
        ['fe80::2', 1],
      ],
    );
  });

  test('an IPv6 address goes to ssh bare, and ::1 is named 0::1 (a worker name starts with a letter or digit)', () => {
    assert.deepEqual(
      parseHostList('[fd00::5]:2,ops@[fd00::6],[::1]').map((h) => [h.host, h.name]),
      [
        ['fd00::5', 'fd00::5'],
        ['ops@fd00::6', 'fd00::6'],
        ['::1', '0::1'],
      ],
    );
  });

  test('errors name the item', () => {
    assertHostfileError(() => parseHostList('a:1,b:0'), 'dptrain.cluster.badSlots', undefined, /^--hosts item 2: bad slot count "0" for host "b"/);
    assertHostfileError(() => parseHostList('a:1,a:2'), 'dptrain.cluster.duplicateHost', undefined, /duplicate host "a"/);
    assertHostfileError(() => parseHostList(''), 'dptrain.cluster.emptyHostfile', undefined, /no hosts given/);
    assertHostfileError(() => parseHostList('a,,b'), 'dptrain.cluster.badLine', undefined, /item 2 is empty/);
  });
});

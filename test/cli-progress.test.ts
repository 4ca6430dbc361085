/**
 * Progress of a long CLI run: plain lines without a terminal, a bar on one, and a summary with
 * the counts and every skipped or failed item's reason (src/cli-progress.ts).
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { Progress } from '../src/cli-progress.js';
import { sidFromPbxId } from '../src/core/ids.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    { isTTY, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true },
  );
  return { stream, text: () => chunks.join('') };
}

t.test('without a terminal: a line every N items, then the summary and each problem', async (t) => {
  const { stream, text } = sink(false);
  const p = new Progress({ label: 'ingest', total: 5, stream, plainEvery: 2 });
  p.note('indexed', 'a.wav');
  p.note('already', 'b.wav');
  p.note('skipped', 'notes.txt', 'not in the asterisk layout');
  p.note('failed', 'd.wav', 'not audio');
  p.note('indexed', 'e.wav');
  const summary = p.finish();
  t.same(summary, {
    indexed: 2,
    already: 1,
    skipped: [{ item: 'notes.txt', reason: 'not in the asterisk layout' }],
    failed: [{ item: 'd.wav', reason: 'not audio' }],
    interrupted: false,
  });
  t.equal(
    text(),
    'ingest: 2/5 done\ningest: 4/5 done\n' +
      'ingest: 2 indexed, 1 already indexed, 1 skipped, 1 failed\n' +
      'ingest: skipped notes.txt: not in the asterisk layout\ningest: failed d.wav: not audio\n',
  );
});

t.test('interrupted, total unknown: the summary says so', async (t) => {
  const { stream, text } = sink(false);
  const p = new Progress({ label: 'scan', stream, plainEvery: 1 });
  p.note('indexed', 'x');
  p.note('failed', 'y');
  p.interrupt();
  t.equal(p.finish().interrupted, true);
  t.equal(text(), 'scan: 1 done\nscan: 2 done\nscan: interrupted after 2 items: 1 indexed, 0 already indexed, 0 skipped, 1 failed\nscan: failed y: no reason given\n');
});

t.test('on a terminal: a bar, cleared at the end, then the summary', async (t) => {
  const { stream, text } = sink(true);
  const p = new Progress({ label: 'import', stream });
  p.setTotal(2);
  p.note('indexed', 'row 1');
  p.note('indexed', 'row 2');
  p.finish();
  t.match(text(), /import \[/, 'a bar was drawn');
  t.match(text(), /import: 2 indexed, 0 already indexed, 0 skipped, 0 failed\n$/);
  t.notMatch(text(), /done\n/, 'no plain lines on a terminal');
});

t.test('a PBX id becomes a call_sid by one rule', async (t) => {
  t.equal(sidFromPbxId('1764322212.84'), 'call_176432221284');
  t.equal(sidFromPbxId('3f2a1b4c-0d9e-4f8a-b7c6-5d4e3f2a1b0c'), 'call_3f2a1b4c0d9e4f8ab7c65d4e3f2a1b0c');
  t.equal(sidFromPbxId('...'), undefined, 'nothing left');
  t.equal(sidFromPbxId('9'.repeat(65)), undefined, 'too long');
});

/**
 * The PBX layouts (src/calls/layouts.ts): each grammar read into a call's fields, with the
 * README's worked examples, and every way a path falls outside a grammar refused with its reason.
 */
import t from 'tap';
import { isLayout, isUtcOffset, parseLayoutPath, UNKNOWN_NUMBER } from '../src/calls/layouts.js';

t.test('asterisk: the README example', async (t) => {
  t.same(parseLayoutPath('asterisk', '2026/11/28/out-15559876543-201-20261128-093012-1764322212.84.wav'), {
    call: { sid: 'call_176432221284', to: '15559876543', from: '201', startedAt: '2026-11-28T09:30:12Z' },
  });
  t.same(parseLayoutPath('asterisk', '2026/11/28/in-201-+15559876543-20261128-235959-1764322212.9.WAV', { utcOffset: '-05:00' }), {
    call: { sid: 'call_17643222129', to: '201', from: '+15559876543', startedAt: '2026-11-28T23:59:59-05:00' },
  }, 'upper-case extension; the offset given is the times\' offset');
  t.same(parseLayoutPath('asterisk', '2026/01/02/external-555-6000-20260102-000000-1.2.gsm', { utcOffset: '+00:00' }), {
    call: { sid: 'call_12', to: '555', from: '6000', startedAt: '2026-01-02T00:00:00Z' },
  });
  t.same(parseLayoutPath('asterisk', '2026/01/02/out-555--20260102-000000-1.2.mp3'), {
    call: { sid: 'call_12', to: '555', startedAt: '2026-01-02T00:00:00Z' },
  }, 'an empty caller id is no from');
});

t.test('asterisk: outside the grammar', async (t) => {
  const reasons: [string, RegExp][] = [
    ['out-1-2-20261128-093012-1.1.wav', /expected YYYY\/MM\/DD\/\{file\}/],
    ['2026/11/out-1-2-20261128-093012-1.1.wav', /expected YYYY\/MM\/DD/],
    ['2026/11/28/extra/out-1-2-20261128-093012-1.1.wav', /expected YYYY\/MM\/DD/],
    ['2026/Nov/28/out-1-2-20261128-093012-1.1.wav', /expected YYYY\/MM\/DD/],
    ['2026/11/28/out-1-2-20261128-093012-1.1.ogg', /expected \{direction\}-\{to\}-\{from\}/],
    ['2026/11/28/out-1-2-20261128-093012-1764322212.wav', /expected \{direction\}/],
    ['2026/11/28/OUT-1-2-20261128-093012-1.1.wav', /expected \{direction\}/],
    ['2026/11/28/out--2-20261128-093012-1.1.wav', /expected \{direction\}/],
    ['2026/11/28/notes.txt', /expected \{direction\}/],
    ['2026/11/27/out-1-2-20261128-093012-1.1.wav', /the date directories 2026\/11\/27 disagree with the name's date 20261128/],
    ['2026/02/30/out-1-2-20260230-093012-1.1.wav', /no such date and time: 20260230-093012/],
    ['2026/11/28/out-1-2-20261128-246000-1.1.wav', /no such date and time/],
    [`2026/11/28/out-1-2-20261128-093012-${'9'.repeat(40)}.${'9'.repeat(30)}.wav`, /too long for a call_sid/],
  ];
  for (const [path, reason] of reasons) {
    const r = parseLayoutPath('asterisk', path);
    t.ok('reason' in r && reason.test(r.reason), `${path}: ${JSON.stringify(r)}`);
  }
});

t.test('freeswitch: the README example, the domain as organization, and what does not fit', async (t) => {
  const path = 'pbx.example.com/archive/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav';
  t.same(parseLayoutPath('freeswitch', path), {
    call: { sid: 'call_3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b', to: UNKNOWN_NUMBER, startedAt: '2026-11-28T00:00:00Z' },
  });
  t.same(parseLayoutPath('freeswitch', path, { orgFromDomain: true, utcOffset: '+01:00' }), {
    call: { sid: 'call_3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b', to: UNKNOWN_NUMBER, startedAt: '2026-11-28T00:00:00+01:00', org: 'pbx.example.com' },
  });
  const bad = parseLayoutPath('freeswitch', 'bad domain!/archive/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.mp3', { orgFromDomain: true });
  t.same(bad, { reason: 'the domain directory "bad domain!" is not an organization id (1-128 letters, digits or _ . : -)' });
  t.ok('call' in parseLayoutPath('freeswitch', 'bad domain!/archive/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.mp3'), 'the domain matters only as an organization');
  const reasons: [string, RegExp][] = [
    ['pbx/recordings/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav', /expected \{domain\}\/archive/],
    ['pbx/archive/2026/11/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav', /expected \{domain\}\/archive/],
    ['pbx/archive/2026/Nov/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav', /expected \{domain\}\/archive/],
    ['pbx/archive/2026/Nov/28/call.wav', /expected \{uuid\}\.\{wav\|mp3\}/],
    ['pbx/archive/2026/Nov/28/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.gsm', /expected \{uuid\}/],
    ['pbx/archive/2026/Feb/30/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.wav', /no such date: 2026\/Feb\/30/],
  ];
  for (const [p, reason] of reasons) {
    const r = parseLayoutPath('freeswitch', p);
    t.ok('reason' in r && reason.test(r.reason), `${p}: ${JSON.stringify(r)}`);
  }
});

t.test('flat: {call_sid}.{ext} at the top only', async (t) => {
  t.same(parseLayoutPath('flat', 'call_abc123.wav'), { call: { sid: 'call_abc123', to: UNKNOWN_NUMBER } });
  t.same(parseLayoutPath('flat', 'call_X9.flac'), { call: { sid: 'call_X9', to: UNKNOWN_NUMBER } });
  const sub = parseLayoutPath('flat', 'org/call_abc123.wav');
  t.ok('reason' in sub && /subdirectory/.test(sub.reason));
  for (const name of ['abc123.wav', 'call_abc-123.wav', 'call_abc123.txt', `call_${'a'.repeat(65)}.wav`, 'call_abc123']) {
    const r = parseLayoutPath('flat', name);
    t.ok('reason' in r && /expected \{call_sid\}\.\{ext\}/.test(r.reason), name);
  }
});

t.test('the layout names and UTC offsets', async (t) => {
  t.ok(isLayout('asterisk') && isLayout('freeswitch') && isLayout('flat'));
  t.notOk(isLayout('Asterisk') || isLayout('cisco') || isLayout(''));
  for (const good of ['+00:00', '-05:00', '+05:30', '+14:00']) t.ok(isUtcOffset(good), good);
  for (const bad of ['Z', '+5:00', '+15:00', '0500', '+05:60', 'UTC']) t.notOk(isUtcOffset(bad), bad);
});

import t from 'tap';
import { extensionForType, isMediaType, typeForName } from '../src/core/media-types.js';

t.test('extensionForType: known types, aliases, parameters and case; bin otherwise', async (t) => {
  const cases: [string, string][] = [
    ['audio/wav', 'wav'],
    ['audio/x-wav', 'wav'],
    ['audio/wave', 'wav'],
    ['audio/vnd.wave', 'wav'],
    ['Audio/WAV', 'wav'],
    ['audio/wav; codecs=1', 'wav'],
    [' audio/mpeg ;x=y', 'mp3'],
    ['audio/mp3', 'mp3'],
    ['audio/ogg', 'ogg'],
    ['audio/opus', 'opus'],
    ['audio/flac', 'flac'],
    ['audio/x-flac', 'flac'],
    ['audio/mp4', 'm4a'],
    ['audio/x-m4a', 'm4a'],
    ['audio/webm', 'webm'],
    ['audio/gsm', 'gsm'],
    ['application/octet-stream', 'bin'],
    ['video/mp4', 'bin'],
    ['', 'bin'],
    ['constructor', 'bin'],
    ['__proto__', 'bin'],
  ];
  for (const [type, ext] of cases) t.equal(extensionForType(type), ext, JSON.stringify(type));
});

t.test('typeForName and isMediaType', async (t) => {
  t.equal(typeForName('recordings/o/c-1.WAV'), 'audio/wav');
  t.equal(typeForName('x.unknown'), 'application/octet-stream');
  t.equal(typeForName('noext'), 'application/octet-stream');
  t.ok(isMediaType('audio/wav; codecs="1"'));
  t.notOk(isMediaType('audio'));
});

import t from 'tap';
import { sniffAudio } from '../src/audio-sniff.js';
import { makeWav } from './helpers/wav.js';

const bytes = (...parts: (string | number[] | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
/** `n` GSM 06.10 frames of 33 bytes, each led by the 0xD nibble (Asterisk's raw .gsm). */
const gsm = (n: number, lead = (i: number) => 0xd0 | (i % 16)) =>
  Buffer.concat(Array.from({ length: n }, (_, i) => bytes([lead(i)], Buffer.alloc(32, (i * 7) & 0xff))));

const audio: [string, Buffer, string][] = [
  ['WAV', makeWav(0.01), 'audio/wav'],
  ['RF64 WAV (over 4 GiB)', bytes('RF64', [0xff, 0xff, 0xff, 0xff], 'WAVEds64'), 'audio/wav'],
  ['MP3 with an ID3v2.4 tag', bytes('ID3', [4, 0, 0, 0, 0, 0x10, 0x00], Buffer.alloc(32)), 'audio/mpeg'],
  ['MP3 with an ID3v2.3 tag', bytes('ID3', [3, 0, 0, 0, 0, 0, 0x20]), 'audio/mpeg'],
  ['MP3 frame sync, MPEG-1 layer III 128 kbit/s 44.1 kHz', bytes([0xff, 0xfb, 0x90, 0x64], Buffer.alloc(413)), 'audio/mpeg'],
  ['MP3 frame sync, MPEG-2 layer III 8 kbit/s 16 kHz (telephony)', bytes([0xff, 0xf3, 0x18, 0xc4], Buffer.alloc(20)), 'audio/mpeg'],
  ['MP3 frame sync, MPEG-2.5 layer III', bytes([0xff, 0xe3, 0x18, 0xc4]), 'audio/mpeg'],
  ['Ogg (Vorbis or Opus)', bytes('OggS', [0, 2], Buffer.alloc(22), 'OpusHead'), 'audio/ogg'],
  ['FLAC', bytes('fLaC', [0, 0, 0, 0x22], Buffer.alloc(34)), 'audio/flac'],
  ['GSM, Asterisk raw frames', gsm(50), 'audio/gsm'],
  ['GSM, the fewest frames taken', gsm(8), 'audio/gsm'],
  ['M4A', bytes([0, 0, 0, 0x20], 'ftypM4A ', [0, 0, 0, 0], 'M4A mp42isom'), 'audio/mp4'],
  ['WebM', bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]), 'audio/webm'],
  ['AMR', bytes('#!AMR\n', [0x3c]), 'audio/amr'],
  ['AMR-WB', bytes('#!AMR-WB\n'), 'audio/amr'],
  ['AIFF', bytes('FORM', [0, 0, 0, 0x2e], 'AIFFCOMM'), 'audio/aiff'],
  ['AU', bytes('.snd', [0, 0, 0, 0x18]), 'audio/basic'],
  ['AAC ADTS', bytes([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]), 'audio/aac'],
];

const notAudio: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['/etc/shadow', bytes('root:$6$Qe1d$kY3Jd0TnO8t2fQ:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n')],
  ['a PEM private key', bytes('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n')],
  ['zeros', Buffer.alloc(4096)],
  ['PNG', bytes([0x89], 'PNG\r\n\x1a\n', Buffer.alloc(24))],
  ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], 'JFIF')],
  ['ELF executable', bytes([0x7f], 'ELF', [2, 1, 1, 0])],
  ['PDF', bytes('%PDF-1.7\n')],
  ['SQLite database', bytes('SQLite format 3\0')],
  ['RIFF that is not WAVE (AVI)', bytes('RIFF', [0, 0, 0, 0], 'AVI LIST')],
  ['ID3 with an unknown version', bytes('ID3', [9, 0, 0, 0, 0, 0, 0])],
  ['MPEG sync with a reserved version', bytes([0xff, 0xeb, 0x90, 0x64])],
  ['MPEG sync with a bad bitrate', bytes([0xff, 0xfb, 0xf0, 0x64])],
  ['MPEG sync with a reserved sample rate', bytes([0xff, 0xfb, 0x9c, 0x64])],
  ['a truncated frame header', bytes([0xff, 0xfb])],
  ['Ogg with an unknown version', bytes('OggS', [1, 2])],
  ['an HEIC image (ftyp, not an audio brand)', bytes([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic')],
  ['GSM-like, too few frames', gsm(7)],
  ['GSM-like, one frame without the signature', gsm(20, (i) => (i === 13 ? 0x41 : 0xd3))],
];

t.test('audio headers are recognised', async (t) => {
  for (const [what, head, type] of audio) t.equal(sniffAudio(head), type, what);
});

t.test('anything else is not audio', async (t) => {
  for (const [what, head] of notAudio) t.equal(sniffAudio(head), undefined, what);
});

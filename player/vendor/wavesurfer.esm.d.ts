// The types of the module src/routes/player.ts serves beside this file (wavesurfer.js's ES build),
// for checking the page's scripts (test/player-tsconfig.json); not served itself.
export { default } from 'wavesurfer.js';
export * from 'wavesurfer.js';

/** A thousand aborted downloads on local storage leave nothing behind (test/helpers/aborted-downloads.ts). */
import t from 'tap';
import { ABORTS, checkAbortedDownloads } from './helpers/aborted-downloads.js';

t.test(`${ABORTS} aborted downloads on local storage leave no descriptor or socket behind`, (t) => checkAbortedDownloads(t, {}));


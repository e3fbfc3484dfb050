// The whole checkpoints among a weights folder's checkpoints/<id>/checkpoint.bin, the rest removed: what
// bench/campaign_merge.sh keeps of a transfer cut short (its last parts never came back), each file checked by the
// sha256 its own header holds (runners/checkpoint.ts), since the transfer's sha256 covers only the whole.
// Usage: npx tsx bench/checkpoints_intact.ts <weights folder>   prints one line per checkpoint and "intact: N"
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointIntact, removeCheckpoint } from '../runners/checkpoint.js';

const folder = process.argv[2];
if (!folder || !existsSync(folder)) {
  console.error(`checkpoints_intact: no weights folder ${folder ?? '(none given)'}`);
  process.exit(2);
}
const runs = join(folder, 'checkpoints');
let intact = 0;
for (const id of existsSync(runs) ? readdirSync(runs).sort() : []) {
  const verdict = checkpointIntact(join(runs, id));
  if ('epoch' in verdict) {
    intact++;
    console.log(`${id}: whole (epoch ${verdict.epoch})`);
  } else {
    removeCheckpoint(join(runs, id));
    console.log(`${id}: removed (${verdict.reason})`);
  }
}
console.log(`intact: ${intact}`);

// strata-img: the qemu-img compatible command line. Kept small on purpose: each command
// lives in its own module and is imported only when it runs, so a script calling
// `strata-img info` thousands of times pays only for what `info` needs.
import { processContext } from '../cli/context.js';
import { runImg } from '../run-img.js';

process.exitCode = await runImg(process.argv.slice(2), processContext('strata-img'));

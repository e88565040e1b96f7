// strata-io: qemu-io's non-interactive form (`-c CMD`...) over Strata's image drivers.
import { processContext } from '../cli/context.js';
import { runReporting } from '../cli/run.js';
import { runIo } from '../io/main.js';

const ctx = processContext('strata-io');
process.exitCode = await runReporting(ctx, () => runIo(process.argv.slice(2), ctx));

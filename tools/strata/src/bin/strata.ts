import { main } from '../cli/main.js';

// The process boundary: real streams and environment in, exit status out. Anything that is not a
// document or usage problem is a bug; report it in one line rather than a stack trace.
try {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
} catch (error) {
  process.stderr.write(`strata: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 70;
}

import { main } from '../cli/main.js';

// The process boundary: real streams and environment in, exit status out.
const status = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
process.exitCode = status;

// Bundles each command line into one ES module after tsc has built dist/. Scripts run
// strata-img thousands of times, and resolving and loading a few dozen separate modules
// costs more at start-up than the command's own work on a small image.
import { build } from 'esbuild';

for (const tool of ['img', 'io']) {
  await build({
    entryPoints: [`dist/bin/${tool}.js`],
    outfile: `dist/bundle/${tool}.js`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

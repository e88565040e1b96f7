// Fails when an import breaks the layering of docs/architecture.md: a package may import
// another Strata package only along the allowed edges, only through its published entry
// points (the `exports` map), and never by a relative path that leaves its own folder.
// Both source imports and package.json dependencies are checked.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');

/** Which Strata packages each package may depend on. Anything else is an error. */
const allowed = {
  '@strata/image-format': [],
  '@strata/qmp-protocol': [],
  '@strata/xml-model': [],
  '@strata/block-layer': ['@strata/image-format'],
  '@strata/mgmt-api': ['@strata/qmp-protocol', '@strata/xml-model', '@strata/image-format'],
  '@strata/img': ['@strata/image-format', '@strata/block-layer'],
  '@strata/storage-daemon': ['@strata/block-layer', '@strata/qmp-protocol', '@strata/image-format'],
  '@strata/cli': ['@strata/mgmt-api', '@strata/xml-model'],
};

const packages = [];
for (const group of ['packages', 'tools']) {
  for (const name of readdirSync(join(root, group))) {
    const dir = join(root, group, name);
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    packages.push({ dir, manifest: JSON.parse(readFileSync(manifest, 'utf8')) });
  }
}
const byName = new Map(packages.map((p) => [p.manifest.name, p]));
const problems = [];

function exportedSubpaths(manifest) {
  return new Set(Object.keys(manifest.exports ?? { '.': null }).map((k) => (k === '.' ? '' : k.slice(1))));
}

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) yield path;
  }
}

const importPattern =
  /(?:^|[^\w.])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[^\w.])import\s+['"]([^'"]+)['"]/gm;

for (const { dir, manifest } of packages) {
  const name = manifest.name;
  const may = allowed[name];
  const where = relative(root, dir);
  if (!may) {
    problems.push(`${where}: package ${name} has no place in the layering table`);
    continue;
  }
  for (const dep of Object.keys({
    ...manifest.dependencies,
    ...manifest.devDependencies,
    ...manifest.peerDependencies,
  })) {
    if (dep.startsWith('@strata/') && !may.includes(dep)) {
      problems.push(`${where}/package.json: ${name} may not depend on ${dep}`);
    }
  }
  for (const sub of ['src', 'test']) {
    if (!existsSync(join(dir, sub))) continue;
    for (const file of sourceFiles(join(dir, sub))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(importPattern)) {
        const spec = m[1] ?? m[2] ?? m[3];
        const at = `${relative(root, file)}: import '${spec}'`;
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (!(target + sep).startsWith(dir + sep))
            problems.push(`${at} leaves its package by a relative path`);
          continue;
        }
        if (!spec.startsWith('@strata/')) continue;
        const [scope, pkg, ...rest] = spec.split('/');
        const target = `${scope}/${pkg}`;
        if (target === name) {
          problems.push(`${at} imports its own package by name; use a relative path`);
          continue;
        }
        if (!may.includes(target)) {
          problems.push(
            `${at} breaks the layering (${name} may import ${may.join(', ') || 'no Strata package'})`,
          );
          continue;
        }
        const other = byName.get(target);
        const subpath = rest.length ? `/${rest.join('/')}` : '';
        if (other && !exportedSubpaths(other.manifest).has(subpath)) {
          problems.push(`${at} reaches into ${target} past its exports map`);
        }
      }
    }
  }
}

if (problems.length) {
  console.error(`layering: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`layering: ${packages.length} packages, all imports along allowed edges`);

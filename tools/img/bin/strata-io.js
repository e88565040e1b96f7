#!/usr/bin/env node
// Scripts run this thousands of times: cache compiled code between runs (Node >= 22.1).
import module from 'node:module';

module.enableCompileCache?.();
await import('../dist/bundle/io.js');

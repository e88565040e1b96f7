#!/usr/bin/env node
import '../dist/bin/io.js';

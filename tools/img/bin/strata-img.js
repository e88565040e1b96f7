#!/usr/bin/env node
import '../dist/bin/img.js';

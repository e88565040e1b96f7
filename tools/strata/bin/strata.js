#!/usr/bin/env node
import '../dist/bin/strata.js';

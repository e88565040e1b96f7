#!/usr/bin/env node
import '../dist/bin/storage-daemon.js';

#!/usr/bin/env node
// Installed entry point: runs the TypeScript CLI directly (Node.js 24 strips types natively).
await import('../src/cli/main.ts');

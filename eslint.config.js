// ESLint for the page, the worker, the tests, the benchmarks and the scripts (the test command
// runs `npx eslint .`): recommended rules, which catch undefined names and unused variables.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['dist/', 'target/', 'node_modules/', 'bench/node_modules/', 'vendor/'] },
  js.configs.recommended,
  // The page (www/page/) runs in the window, the training worker (www/worker/) in a Web Worker;
  // www/shared/ is imported by both.
  { files: ['www/page/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['www/worker/**/*.js'], languageOptions: { globals: globals.worker } },
  { files: ['www/shared/**/*.js'], languageOptions: { globals: { ...globals.browser, ...globals.worker } } },
  {
    files: ['**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    rules: {
      'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
];

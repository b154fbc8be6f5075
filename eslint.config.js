import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports a module of `src/` must not make, from DESIGN's module table (the
 * direction of dependencies): directories reached by a relative path. Import
 * circles are found by dependency-cruiser (.dependency-cruiser.mjs), which
 * sees type-only imports too.
 */
const BOUNDARIES = [
  { files: ['src/formats/**'], must: 'formats/ is pure bytes: it never imports talos/, build/, assets/, jobs/ or http/', modules: ['talos/', 'build/', 'assets/', 'jobs/', 'http/'] },
  // The release's error types are the one exception: a build may say the release lacks something.
  { files: ['src/build/**'], must: 'build/ gets its inputs resolved: it never imports release/ (but its errors), oci/registry/, assets/, jobs/ or http/', modules: ['release/(?!errors\\.js)', 'oci/registry/', 'assets/', 'jobs/', 'http/'] },
  { files: ['src/jobs/**'], must: 'jobs/ queues builds it does not know: it never imports assets/, build/ or http/', modules: ['assets/', 'build/', 'http/'] },
  { files: ['src/http/**'], must: 'http/ goes through the asset service: it never imports build/', modules: ['build/'] },
  { files: ['src/talos/**'], must: 'talos/ holds rules, no I/O: it never imports release/, build/, assets/ or http/', modules: ['release/', 'build/', 'assets/', 'http/'] },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  ...BOUNDARIES.map(({ files, must, modules }) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: `(^|/)\\.\\./(\\.\\./)*(${modules.join('|')})`, message: must }] }],
    },
  })),
);

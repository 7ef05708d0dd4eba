// Lint config that enforces Vigil's layers (as VS Code does):
//   contract/            shared IPC contract: imports zod only
//   electron/services/   plain Node services: never `electron`, never the Electron layer or renderer
//   electron/main|preload  the thin Electron layer
//   electron/bridge|cli  dev/test hosts for the same services: never `electron`
//   renderer/            browser code: no Node built-ins, no `electron`, no main-process code
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const restrict = (paths, patterns) => ['error', { paths, patterns }];

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'test-artifacts/**', 'models/training/**', '.scratch*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.{js,mjs,cjs,ts,tsx}'],
    ignores: ['renderer/src/**'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['contract/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [...nodeBuiltins.map((name) => ({ name, message: 'The contract is shared with the renderer: no Node built-ins.' })), { name: 'electron', message: 'The contract never imports electron.' }],
        [{ group: ['**/electron/**', '**/renderer/**'], message: 'The contract depends on nothing but zod.' }],
      ),
    },
  },
  {
    files: ['electron/services/**/*.ts', 'electron/bridge/**/*.ts', 'electron/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [{ name: 'electron', message: 'Services, the bridge and the CLI are plain Node: never import electron.' }],
        [
          { group: ['**/electron/main/**', '**/electron/preload/**', '../main/**', '../preload/**'], message: 'Only the Electron layer may import the Electron layer.' },
          { group: ['**/renderer/**'], message: 'Node code never imports renderer code.' },
        ],
      ),
    },
  },
  {
    files: ['electron/services/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [{ name: 'electron', message: 'Services are plain Node modules: never import electron.' }],
        [
          { group: ['**/electron/main/**', '**/electron/preload/**', '**/main/*', '**/preload/*'], message: 'Services never depend on the Electron layer.' },
          { group: ['**/bridge/**', '**/cli/**'], message: 'Services never depend on their hosts.' },
          { group: ['**/renderer/**'], message: 'Node code never imports renderer code.' },
        ],
      ),
    },
  },
  {
    files: ['renderer/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': restrict(
        [
          ...nodeBuiltins.map((name) => ({ name, message: 'Renderer code runs in the browser: no Node built-ins.' })),
          { name: 'electron', message: 'The renderer talks to main only through window.vigil.' },
        ],
        [{ group: ['**/electron/**', '!**/contract/**'], message: 'The renderer may import only the contract from outside renderer/.' }],
      ),
    },
  },
);

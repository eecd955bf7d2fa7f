// ESLint, run by `npm test` (npm run lint): typescript-eslint's type-aware recommended rules
// (no-floating-promises, no-misused-promises, await-thenable, the no-unsafe-* family, …) over the
// TypeScript of the product, its tools and its tests, with the types of tsconfig.json (and of
// tsconfig.k6.json for the k6 scenarios, which run in k6, not Node). Plain JavaScript is linted
// without types: the dashboard page (a browser script) and the app threads' CommonJS entry.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'reports/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // a route handler or an interface method is async by contract, whether or not it awaits
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // k6 scenarios: their own compiler settings (k6's types, no Node)
    files: ['loadtest/k6/**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: ['./tsconfig.k6.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    // tests read JSON answers and fixtures as they come: asserting their shape is the test's job
    files: ['tests/**/*.ts', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // the load-test runner reads the gateway's answers field by field (loadtest/runner/client.ts `Json`)
    files: ['loadtest/runner/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  { files: ['**/*.js', '**/*.cjs'], extends: [tseslint.configs.disableTypeChecked] },
  {
    files: ['eslint.config.js'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    // the entry of the gateway's app threads: CommonJS on purpose (gateway/tsWorker.cjs explains)
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // the dashboard page: a plain browser script (its globals named in its own /* global */ line)
    files: ['gateway/static/**/*.js'],
    languageOptions: { sourceType: 'script' },
  },
);

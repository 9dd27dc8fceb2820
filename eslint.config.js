// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'web/**/dist/', 'coverage/', 'helm/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // Fastify plugins and hooks are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The CLI and scripts talk to a terminal on purpose.
    files: ['server/src/cli/**', 'scripts/**', 'server/test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests read JSON responses (typed any) and assert on them; the assertions are the types.
    files: ['server/test/**', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  // Vue single-file components: Vue's correctness rules and, above all, no v-html (user text is
  // always rendered as text). vue-tsc type-checks them; the type-aware lint rules stay on .ts.
  ...pluginVue.configs['flat/essential'],
  {
    files: ['**/*.vue'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], projectService: false },
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'no-undef': 'off', // vue-tsc knows the globals; this rule does not understand TypeScript
      'vue/no-v-html': 'error',
      'vue/no-v-text-v-html-on-component': 'error',
      // The console's views are named after routes (LoginView), not multi-word by rule.
      'vue/multi-word-component-names': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);

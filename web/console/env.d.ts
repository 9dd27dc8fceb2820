// Lets plain tsc and ESLint's type service see .vue imports; vue-tsc checks the real components.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}

import { createPinia } from 'pinia';
import { createApp } from 'vue';
// Element Plus CSS comes per component with the pages that use it (vite.config.ts); the base
// variables and reset first, so Parley's own styles can override them.
import 'element-plus/theme-chalk/base.css';
import './styles.css';
import App from './App.vue';
import { api } from './api/client.ts';
import { createConsoleI18n } from './i18n/index.ts';
import { createConsoleRouter } from './router/index.ts';
import { useSessionStore } from './stores/session.ts';

const app = createApp(App);
const pinia = createPinia();
const i18n = createConsoleI18n();
const router = createConsoleRouter();
app.use(pinia).use(i18n).use(router);

// Any 401 from the API means the session is gone: back to the login page, keeping the route
// (and, through the drafts store, any half-typed replies) to return to.
api.onSessionEnded(() => {
  const session = useSessionStore(pinia);
  const wasSignedIn = session.status === 'signed-in';
  session.expire();
  const current = router.currentRoute.value;
  if (wasSignedIn && !current.meta.public) {
    void router.replace({ name: 'login', query: { redirect: current.fullPath } });
  }
});

app.mount('#app');

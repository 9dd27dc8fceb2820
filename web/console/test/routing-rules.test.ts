// @vitest-environment happy-dom
// The routing rules page (views/admin/RoutingRulesView.vue) as a supervisor and an admin use it:
// the real page, router, stores and API client, with only the network answered by the test.
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils';
import { createPinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory } from 'vue-router';
import App from '../src/App.vue';
import { createConsoleI18n } from '../src/i18n/index.ts';
import { createConsoleRouter } from '../src/router/index.ts';
import { errorBody, fakeNetwork, type Reply } from './fake-network.ts';

let network: ReturnType<typeof fakeNetwork>;
const answer = (method: string, url: string, ...r: Reply[]) => network.answer(method, url, ...r);
const ok = (body: unknown): Reply => ({ status: 200, body });

const SITE = '5b8f0c1e-0000-4000-8000-000000000001';
const TEAM = '5b8f0c1e-0000-4000-8000-000000000002';
const RULE = '5b8f0c1e-0000-4000-8000-000000000003';
const rule = {
  id: RULE,
  channelId: SITE,
  position: 1,
  name: '<b>退款</b>',
  enabled: true,
  conditions: [{ type: 'keywords', values: ['退款', '投诉'] }],
  teamId: TEAM,
  priority: 'high',
  preferredAgentId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

function signedIn(role: 'admin' | 'supervisor', permissions: string[]) {
  answer(
    'GET',
    '/api/v1/auth/me',
    ok({
      user: {
        id: '5b8f0c1e-0000-4000-8000-000000000009',
        username: role,
        displayName: role,
        role,
        teamIds: [],
        mustChangePassword: false,
        disabled: false,
        authSource: 'local',
        totpEnabled: false,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      },
      permissions,
      mfaEnrollmentRequired: false,
    }),
  );
  answer(
    'GET',
    '/api/v1/routing/websites',
    ok({ websites: [{ channelId: SITE, name: 'Shop', defaultTeamId: null }] }),
  );
  answer(
    'GET',
    '/api/v1/teams',
    ok({
      teams: [
        {
          id: TEAM,
          name: '售后',
          description: '',
          members: [],
          createdAt: '2026-01-01T00:00:00.000Z',
          updatedAt: '2026-01-01T00:00:00.000Z',
        },
      ],
    }),
  );
  answer('GET', `/api/v1/routing/rules?channelId=${SITE}`, ok({ rules: [rule] }));
}

beforeEach(() => {
  localStorage.clear();
  network = fakeNetwork();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  document.body.innerHTML = '';
});

async function open() {
  const router = createConsoleRouter(createMemoryHistory());
  const wrapper = mount(App, {
    global: { plugins: [createPinia(), createConsoleI18n('en'), router] },
    attachTo: document.body,
  });
  await router.push('/admin/routing');
  await router.isReady();
  await flushPromises();
  await vi.waitFor(() => expect(wrapper.text()).toContain('Keywords in the first message: 退款, 投诉'));
  return wrapper;
}
const byTest = (w: VueWrapper, id: string) => w.find(`[data-test="${id}"]`);
/** Types into an Element Plus input (its data-test lands on the <input> or on its wrapper). */
async function type(id: string, value: string) {
  const el = document.querySelector(`[data-test="${id}"]`);
  const target =
    el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement
      ? el
      : el?.querySelector<HTMLInputElement | HTMLTextAreaElement>('input, textarea');
  if (!target) throw new Error(`no input ${id}`);
  target.value = value;
  target.dispatchEvent(new Event('input'));
  await flushPromises();
}

describe('the routing rules page', () => {
  it('shows a supervisor the rules as text, read-only, with the test box', async () => {
    signedIn('supervisor', ['teams.read', 'routing.read']);
    const w = await open();
    expect(w.text()).toContain('<b>退款</b>'); // a rule's name is text, never markup
    expect(w.find('b').exists()).toBe(false);
    expect(w.text()).toContain('Only admins change routing rules');
    expect(byTest(w, 'create-rule').exists()).toBe(false);
    expect(byTest(w, `rule-edit-${rule.name}`).exists()).toBe(false);
    expect(byTest(w, `rule-up-${rule.name}`).exists()).toBe(false);
    expect(byTest(w, 'test-run').exists()).toBe(true);
  });

  it('sends the sample as the server expects (lists split on either comma, key=value lines) and shows the trace', async () => {
    signedIn('admin', ['teams.read', 'teams.manage', 'routing.read', 'routing_rules.manage']);
    const w = await open();
    answer(
      'POST',
      '/api/v1/routing/test',
      ok({
        target: { teamId: null, priority: 'normal', preferredAgentId: null, ruleId: null },
        trace: [
          {
            ruleId: RULE,
            name: rule.name,
            outcome: 'no_match',
            failed: { index: 0, type: 'keywords', reason: 'first message contains none of 退款, 投诉' },
          },
        ],
        usedDefault: true,
      }),
    );
    await type('test-tags', 'vip， wholesale ,');
    await type('test-attributes', 'vip=true\ncity = 杭州\nnonsense');
    await type('test-language', ' en-GB ');
    await type('test-message', 'hello');
    await byTest(w, 'test-run').trigger('click');
    await flushPromises();
    const sent = network.requests.find((r) => r.method === 'POST' && r.url === '/api/v1/routing/test');
    expect(sent?.body).toEqual({
      channelId: SITE,
      language: 'en-GB',
      tags: ['vip', 'wholesale'],
      attributes: { vip: 'true', city: '杭州' },
      message: 'hello',
    });
    const result = byTest(w, 'test-result').text();
    expect(result).toContain('No rule hit');
    expect(result).toContain('Keywords in the first message · first message contains none of 退款, 投诉');
  });

  it('shows a refused condition under that condition in the dialog', async () => {
    signedIn('admin', ['teams.read', 'teams.manage', 'routing.read', 'routing_rules.manage']);
    const w = await open();
    answer('POST', '/api/v1/routing/rules', {
      status: 400,
      body: errorBody('bad_request', 'conditions.0.values: is required for a keywords condition', {
        field: 'conditions.0.values',
      }),
    });
    await byTest(w, 'create-rule').trigger('click');
    await flushPromises();
    await type('rule-name', '空');
    document.querySelector<HTMLElement>('[data-test="rule-save"]')!.click();
    await flushPromises();
    await vi.waitFor(() =>
      expect(document.querySelector('[data-test="condition-0"] .field-error')?.textContent).toContain(
        'conditions.0.values',
      ),
    );
    const sent = network.requests.find((r) => r.method === 'POST' && r.url === '/api/v1/routing/rules');
    expect(sent?.body).toMatchObject({
      channelId: SITE,
      name: '空',
      teamId: TEAM,
      conditions: [{ type: 'keywords', values: [] }],
    });
  });
});
